/**
 * kubectl-kerris: the command line of kerris, run as `kubectl kerris …` once the executable is on PATH (bin/). It
 * follows kubectl's conventions: --kubeconfig, --context, -n, -A, -o, exit codes (docs/cli.md).
 */
import { Command, CommanderError, Option } from 'commander';
import { completionScript } from './completion.ts';
import { openSession, type GlobalOptions, type Session } from './context.ts';
import { CliError, EXIT } from './errors.ts';
import { describeCommand } from './commands/describe.ts';
import { doctorCommand } from './commands/doctor.ts';
import { getCommand } from './commands/get.ts';
import { abortCommand, setPaused } from './commands/lifecycle.ts';
import { planCommand } from './commands/plan.ts';
import { reportCommand } from './commands/report.ts';

const VERSION = '0.1.0';

/** A command's result: text for stdout and the exit code. */
type Outcome = string | { text: string; exitCode: number };

type Runner = (command: Command, work: (session: Session, globals: GlobalOptions) => Promise<Outcome>) => Promise<void>;

function build(run: Runner): Command {
  const program = new Command('kubectl kerris')
    .description('kerris: chaos experiments on Kubernetes that always take their faults away')
    .version(VERSION, '--version', 'print the version')
    .addOption(new Option('--kubeconfig <path>', 'the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)'))
    .addOption(new Option('--context <name>', 'the kubeconfig context to use'))
    .addOption(new Option('-n, --namespace <namespace>', 'the namespace (default: the context\'s)'))
    .addOption(new Option('-A, --all-namespaces', 'every namespace (get)'))
    .addOption(new Option('-o, --output <format>', 'table, wide, json or yaml; html or json for report'))
    .addOption(new Option('--kerris-namespace <namespace>', 'where kerris runs').default('kerris-system'))
    .addOption(new Option('--request-timeout <duration>', 'give up on one request after this long, e.g. 30s'))
    .showHelpAfterError('(kubectl kerris --help shows every command)')
    .exitOverride();

  program.command('get').description('list chaos experiments, or show one')
    .argument('[kind]', 'podchaos, networkchaos or all (default: all)')
    .argument('[name]', 'one experiment')
    .action((kind: string | undefined, name: string | undefined, _o: object, c: Command) => run(c, (s, g) => getCommand(s, g.output, kind, name)));
  program.command('describe').description('show an experiment: spec, targets and their proof, conditions, Events')
    .argument('<name>', 'NAME or KIND/NAME')
    .action((ref: string, _o: object, c: Command) => run(c, (s) => describeCommand(s, ref)));
  program.command('plan').description('show the blast radius of the experiments in a file before anything runs (pods hit; for a NodeChaos, the nodes picked and what happens to their pods); exits 3 when unsafe')
    .requiredOption('-f, --filename <file>', 'the manifest (- for standard input)')
    .option('--allow-unsafe', 'exit 0 even when a plan is unsafe')
    .action((options: { filename: string; allowUnsafe?: boolean }, c: Command) => run(c, (s, g) => planCommand(s, g.output, options.filename, options.allowUnsafe ?? false)));
  program.command('pause').description('pause an experiment: held faults are taken away, its duration clock stops')
    .argument('<name>', 'NAME or KIND/NAME')
    .action((ref: string, _o: object, c: Command) => run(c, (s) => setPaused(s, ref, true)));
  program.command('resume').description('resume a paused experiment')
    .argument('<name>', 'NAME or KIND/NAME')
    .action((ref: string, _o: object, c: Command) => run(c, (s) => setPaused(s, ref, false)));
  program.command('abort').description('stop an experiment now, take every fault away, and wait until it is recovered')
    .argument('<name>', 'NAME or KIND/NAME')
    .option('--reason <text>', 'why, recorded in its Aborted condition and Event')
    .option('--no-wait', 'return once the abort is requested')
    .option('--timeout <seconds>', 'how long to wait for recovery', '120')
    .action((ref: string, options: { reason?: string; wait: boolean; timeout: string }, c: Command) => run(c, (s) => abortCommand(s, ref, {
      ...(options.reason === undefined ? {} : { reason: options.reason }), wait: options.wait, timeoutMs: Number(options.timeout) * 1000,
    })));
  program.command('doctor').description('check kerris here: leadership, daemons, node abilities, certificates, faults nobody owns; exits 3 on a failure')
    .action((_o: object, c: Command) => run(c, (s, g) => doctorCommand(s, g.output)));
  program.command('report').description('one experiment\'s record as a self-contained HTML page (default) or JSON')
    .argument('<name>', 'NAME or KIND/NAME')
    .option('-f, --file <path>', 'write it to this file instead of standard output')
    .action((ref: string, options: { file?: string }, c: Command) => run(c, (s, g) => reportCommand(s, ref, g.output, options.file)));
  program.command('completion').description('print a shell completion script')
    .argument('<shell>', 'bash, zsh or fish')
    .action((shell: string) => { process.stdout.write(completionScript(program, shell)); });
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  let session: Session | undefined;
  const run: Runner = async (command, work) => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    session = await openSession(globals);
    const outcome = await work(session, globals);
    const text = typeof outcome === 'string' ? outcome : outcome.text;
    if (typeof outcome !== 'string') exitCode = outcome.exitCode;
    process.stdout.write(text);
  };
  const program = build(run);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof CliError) {
      process.stderr.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failed;
  } finally {
    session?.client.close();
  }
  return exitCode;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
