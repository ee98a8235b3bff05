import { access } from 'node:fs/promises';

/** Whether anything exists at path (a file, a folder, a socket); false on any error. */
export async function pathExists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}
