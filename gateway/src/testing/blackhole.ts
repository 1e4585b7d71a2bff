// A node address that never accepts a connection, for connect-timeout tests: a child
// process listens on 127.0.0.1 with a backlog of 1 and is stopped (SIGSTOP), and the accept
// queue is filled, so the kernel drops further SYNs and a connect waits until the caller
// gives up. (Non-routable addresses do not work everywhere: a sandbox may answer them.)
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';

export interface Blackhole {
  url: string;
  close(): Promise<void>;
}

const LISTENER = `require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port) })`;

export async function startBlackhole(): Promise<Blackhole> {
  const child = spawn(process.execPath, ['-e', LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
  });
  child.kill('SIGSTOP');
  const held: Socket[] = [];
  // Fill the accept queue until a connect no longer completes.
  for (let i = 0; i < 16; i += 1) {
    const socket = connect({ host: '127.0.0.1', port });
    held.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 200);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!connected) break;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of held) socket.destroy();
      child.kill('SIGCONT');
      child.kill();
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
    },
  };
}
