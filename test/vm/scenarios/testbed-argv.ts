// Runs inside the kernel VM. Prints its arguments, working directory and environment as JSON on
// stdout, a fixed line on stderr, and exits with the code in KERRIS_TEST_EXIT_CODE.
process.stdout.write(`${JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), env: process.env })}\n`);
process.stderr.write('testbed-argv: stderr line\n');
process.exitCode = Number(process.env['KERRIS_TEST_EXIT_CODE'] ?? 0);
