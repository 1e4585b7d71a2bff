import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CliError, parseCli } from './cli.ts';

describe('parseCli', () => {
  it('reads every flag into the options, with defaults for the rest', () => {
    const r = parseCli([
      '--model',
      'm',
      '--port',
      '0',
      '--host',
      '0.0.0.0',
      '--seed',
      '9',
      '--ttft-ms',
      '12.5',
      '--prefill-ms-per-token',
      '0.2',
      '--itl-ms',
      '3',
      '--jitter',
      '0.1',
      '--max-num-seqs',
      '4',
      '--max-tokens',
      '64',
      '--prefix-cache-tokens',
      '0',
      '--failure-rate',
      '0.25',
      '--startup-delay-ms',
      '100',
      '--hang-after-requests',
      '3',
      '--hang-ms',
      '500',
      '--served-model-name',
      'a',
      '--served-model-name',
      'b',
    ]);
    expect(r).toEqual({
      help: false,
      options: {
        model: 'm',
        servedModelNames: ['a', 'b'],
        host: '0.0.0.0',
        port: 0,
        seed: 9,
        ttftMs: 12.5,
        prefillMsPerToken: 0.2,
        itlMs: 3,
        jitter: 0.1,
        maxNumSeqs: 4,
        maxTokens: 64,
        prefixCacheTokens: 0,
        failureRate: 0.25,
        startupDelayMs: 100,
        hangAfterRequests: 3,
        hangMs: 500,
        logRequests: false,
      },
    });
    const logging = parseCli(['--model', 'm', '--log-requests']);
    expect(logging.help === false && logging.options.logRequests).toBe(true);
    const fromEnv = parseCli(['--model', 'm'], { FLEETGATE_SIM_LOG_REQUESTS: '1' });
    expect(fromEnv.help === false && fromEnv.options.logRequests).toBe(true);
    const vllmStyle = parseCli(['--model', 'm', '--served-model-name', 'x', 'y', '--seed', '1']);
    expect(vllmStyle.help === false && vllmStyle.options.servedModelNames).toEqual(['x', 'y']);
    const defaults = parseCli(['--model', 'm']);
    expect(defaults.help === false && defaults.options.port).toBe(8000);
  });

  it('takes settings from FLEETGATE_SIM_* when no flag gives them', () => {
    const r = parseCli(['--model', 'm', '--itl-ms', '7'], {
      FLEETGATE_SIM_ITL_MS: '99',
      FLEETGATE_SIM_TTFT_MS: '11',
      FLEETGATE_SIM_PORT: '1234',
    });
    expect(r.help === false && [r.options.itlMs, r.options.ttftMs, r.options.port]).toEqual([
      7, 11, 1234,
    ]);
  });

  it('names the bad flag', () => {
    const bad = (argv: string[], pattern: RegExp): void => {
      expect(() => parseCli(argv)).toThrow(CliError);
      expect(() => parseCli(argv)).toThrow(pattern);
    };
    bad([], /--model/);
    bad(['--model', 'm', '--itl-ms', 'fast'], /--itl-ms must be a number/);
    bad(['--model', 'm', '--jitter', '2'], /--jitter/);
    bad(['--model', 'm', '--max-num-seqs', '1.5'], /--max-num-seqs/);
    bad(['--model', 'm', '--port', '70000'], /--port/);
    bad(['--model', 'm', '--speed', '3'], /speed/);
    bad(['--model', 'm', 'stray'], /unexpected argument 'stray'/);
  });
});

describe('main.ts as a process', () => {
  it('prints its listening line, serves, and exits cleanly on SIGTERM', async () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', main, '--port', '0', '--model', 'proc-sim', '--log-requests'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /listening on (http:\/\/\S+) model=proc-sim/.exec(output);
        if (m?.[1]) resolve(m[1]);
      });
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('exit', () => reject(new Error(`exited early: ${output}`)));
    });
    expect(output).toContain(
      'fleetgate-sim (engine simulator, not a real model) listening on http://127.0.0.1:',
    );
    expect((await fetch(`${url}/health`)).status).toBe(200);
    // --log-requests: a line per answered request, naming its request id.
    const answer = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-logged-1' },
      body: JSON.stringify({ model: 'proc-sim', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(answer.status).toBe(200);
    await answer.text();
    await expect
      .poll(() => output)
      .toMatch(/fleetgate-sim: POST \/v1\/chat\/completions 200 \d+ ms request_id=req-logged-1\n/);
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 2 with the usage on a bad flag', async () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main, '--model', 'm', '--bogus'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('bogus');
    expect(stderr).toContain('usage:');
  });
});
