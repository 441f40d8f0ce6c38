/**
 * `--as NAME[:ARG]`: one parse function (parseServiceSpec) for the command
 * line, the suite file and the library; each service says whether it takes an
 * argument (Service.arg).
 */
import { describe, expect, it } from 'vitest';
import { SERVICES, SERVICE_NAMES, parseServiceSpec, serviceByName } from '../src/core/service/index.js';
import { UdsError } from '../src/core/errors.js';
import { settings } from '../src/core/probe/settings.js';
import { ROOT, runCli } from './helpers/run-cli.js';
import { buildProgram } from '../src/cli.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const failure = (value: string): string => {
  try {
    parseServiceSpec(value);
  } catch (err) {
    expect(err).toBeInstanceOf(UdsError);
    return `${(err as UdsError).code} ${(err as Error).message}`;
  }
  return 'no error';
};

describe('parseServiceSpec', () => {
  it('NAME alone, and NAME:ARG for a service that takes one (the ARG after the first colon, exact)', () => {
    expect(parseServiceSpec('grpc')).toEqual({ service: serviceByName('grpc') });
    expect(parseServiceSpec('grpc:my.Service')).toEqual({ service: serviceByName('grpc'), arg: 'my.Service' });
    expect(parseServiceSpec('postgresql:appuser')).toEqual({ service: serviceByName('postgresql'), arg: 'appuser' });
    expect(parseServiceSpec('http:/health?x=a:b')).toEqual({ service: serviceByName('http'), arg: '/health?x=a:b' });
    expect(parseServiceSpec('grpc:ünï code')).toEqual({ service: serviceByName('grpc'), arg: 'ünï code' });
    for (const name of SERVICE_NAMES) expect(parseServiceSpec(name).service.name).toBe(name);
  });

  it('an unknown name: one line listing the names', () => {
    const msg = failure('grcp:x');
    expect(msg).toBe(`BAD_OPTION --as must be NAME or NAME:ARG, NAME one of ${SERVICE_NAMES.join(', ')} (got "grcp:x")`);
    expect(failure('')).toMatch(/^BAD_OPTION --as must be NAME or NAME:ARG/);
    expect(failure('GRPC')).toMatch(/^BAD_OPTION --as must be NAME or NAME:ARG/);
    // Control characters in what was typed come back escaped, on one line.
    expect(failure('x\n\x1b[31m')).not.toMatch(/[\n\x1b]/);
  });

  it('an ARG for a service that takes none, and an empty ARG: one line each', () => {
    expect(failure('redis:PING')).toBe('BAD_OPTION --as redis takes no argument (got "redis:PING"); only fastcgi, uwsgi, postgresql, grpc, http take :ARG');
    expect(failure('line:x')).toMatch(/^BAD_OPTION --as line takes no argument/);
    expect(failure('grpc:')).toBe('BAD_OPTION --as grpc: needs SERVICE after the colon (grpc:SERVICE), or no colon');
  });

  it('each service that takes an argument says what it is', () => {
    const takers = SERVICES.filter((s) => s.arg).map((s) => [s.name, s.arg!.name]);
    expect(takers).toEqual([
      ['fastcgi', 'SCRIPT'],
      ['uwsgi', 'PATH'],
      ['postgresql', 'USER'],
      ['grpc', 'SERVICE'],
      ['http', 'PATH'],
    ]);
    for (const s of SERVICES.filter((x) => x.arg)) expect(s.arg!.means.length).toBeGreaterThan(10);
  });

  it('--help, docs/probe.md and the man page show each ARG from the service modules', () => {
    const help = buildProgram()
      .commands.find((c) => c.name() === 'probe')!
      .helpInformation({ error: false });
    const full = execFileSync(process.execPath, [join(ROOT, 'bin', 'udsctl.cjs'), 'probe', '--help'], { encoding: 'utf8' });
    const docs = readFileSync(join(ROOT, 'docs', 'probe.md'), 'utf8');
    const man = readFileSync(join(ROOT, 'man', 'udsctl.1'), 'utf8');
    expect(help).toContain('--as <service[:arg]>');
    for (const s of SERVICES.filter((x) => x.arg)) {
      const words = s.arg!.means.split(' ').slice(0, 3).join(' ');
      expect(full).toMatch(new RegExp(`^  ${s.name}:${s.arg!.name} +${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
      expect(docs).toContain(`| \`${s.name}:${s.arg!.name}\` |`);
      expect(man).toContain(`.BI ${s.name}: ${s.arg!.name.toLowerCase()}\n`);
    }
  });

  it('--help lists each finding code apart from its severity (the longest code ran into it)', () => {
    const full = execFileSync(process.execPath, [join(ROOT, 'bin', 'udsctl.cjs'), 'probe', '--help'], { encoding: 'utf8' });
    expect(full).toMatch(/^  MYSQL_TOO_MANY_CONNECTIONS +CRITICAL /m);
    expect(full).toMatch(/^  GRPC_NO_HEALTH_SERVICE +WARNING /m);
  });

  it('the library takes the same spelling; an ARG with an exchange given by hand contradicts it', () => {
    const s = settings({ as: 'grpc:my.Service' });
    expect([s.as?.name, s.asArg]).toEqual(['grpc', 'my.Service']);
    expect(() => settings({ as: 'memcached:x' })).toThrow(/--as memcached takes no argument/);
    expect(() => settings({ as: 'grpc:x', payload: Buffer.from('hi') })).toThrow(/--as grpc:x is for grpc's own check/);
    expect(settings({ as: 'grpc', payload: Buffer.from('hi') }).as?.name).toBe('grpc');
  });
});

describe('probe --as on the command line', () => {
  it('a bad --as is a one-line usage error, exit 3; completion still offers the names', async () => {
    for (const [args, re] of [
      [['--as', 'nope'], /--as must be NAME or NAME:ARG, NAME one of fastcgi, .*line \(got "nope"\)/],
      [['--as', 'memcached:stats'], /--as memcached takes no argument/],
      [['--as', 'http:/x', '--http', '/y'], /--as http:\/x and --http contradict each other/],
    ] as const) {
      const r = await runCli(['probe', ...args, '/nowhere.sock']);
      expect(r.status).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n {4}at /);
    }
    const bash = await runCli(['completion', 'bash']);
    expect(bash.stdout).toContain(`--as) COMPREPLY=($(compgen -W '${SERVICE_NAMES.join(' ')}'`);
  });
});
