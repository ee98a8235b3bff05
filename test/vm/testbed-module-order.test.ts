// The boot module list comes from the real kernel's modules.dep, modules.softdep and
// modules.alias: every module loads after what it needs, and the modules are unsigned copies.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withoutSignature } from '../testbed/vm/initramfs.ts';
import { ensureKernelTree, resolveKernelPackage } from '../testbed/vm/kernel-package.ts';
import { BOOT_MODULES, KERRIS_MODULES, loadOrder, ModuleResolutionError, moduleName, readModuleIndex } from '../testbed/vm/modules.ts';

const { packageName, version } = await resolveKernelPackage();
const kernel = await ensureKernelTree(packageName, version, (line) => process.stderr.write(`${line}\n`));
const index = await readModuleIndex(join(kernel.modulesDir, kernel.version));

test('every module comes after the modules it needs and after its softdeps', () => {
  const order = loadOrder(index, [...BOOT_MODULES, ...KERRIS_MODULES]);
  const position = new Map(order.map((path, i) => [moduleName(path), i]));
  assert.equal(position.size, order.length, 'a module is listed twice');
  for (const [i, path] of order.entries()) {
    for (const dep of index.deps.get(moduleName(path)) ?? []) {
      const at = position.get(moduleName(dep));
      assert.ok(at !== undefined && at < i, `${path} is loaded before its dependency ${dep}`);
    }
  }
  // libcrc32c (needed by nf_tables) asks for the crc32c algorithm at load time: a softdep.
  const crc = position.get('crc32c_generic');
  const lib = position.get('libcrc32c');
  assert.ok(crc !== undefined && lib !== undefined && crc < lib, 'crc32c_generic must load before libcrc32c');
  for (const name of [...BOOT_MODULES, ...KERRIS_MODULES]) {
    assert.ok(position.has(moduleName(name)) || index.builtin.has(moduleName(name)), `${name} is neither loaded nor built in`);
  }
});

test('a module the kernel does not have is an error naming it', () => {
  assert.throws(() => loadOrder(index, ['sch_nonexistent']), (error: unknown) =>
    error instanceof ModuleResolutionError && /sch_nonexistent/.test(error.message));
});

test('withoutSignature removes exactly the appended signature', async () => {
  const path = index.paths.get('sch_netem');
  assert.ok(path !== undefined);
  const signed = await readFile(join(kernel.modulesDir, kernel.version, path));
  const magic = '~Module signature appended~\n';
  assert.equal(signed.subarray(-magic.length).toString('latin1'), magic, 'Debian signs its modules');
  const unsigned = withoutSignature(signed);
  assert.ok(unsigned.length < signed.length);
  assert.equal(unsigned.readUInt32BE(0), 0x7f454c46, 'not an ELF object any more');
  assert.equal(unsigned.includes(Buffer.from(magic)), false);
  assert.deepEqual(signed.subarray(0, unsigned.length), unsigned);
  assert.equal(withoutSignature(unsigned), unsigned, 'an unsigned module is left as it is');
});
