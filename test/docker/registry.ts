// A minimal Docker registry (the read half of the v2 API) on 127.0.0.1, serving one image
// made here, so image pulls, with their progress, run for real without any network. The
// Docker Engine treats registries on 127.0.0.0/8 as insecure, so plain HTTP works.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface TestRegistry {
  // host:port, to prefix image names with.
  host: string;
  // Size of the one layer as sent (compressed).
  layerBytes: number;
  // With `hold`, the layer stops halfway until this is called.
  release(): void;
  close(): Promise<void>;
}

function sha256(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

// An image whose one layer holds `sizeBytes` of random (incompressible) data and whose
// entrypoint does not exist: it pulls, but its containers cannot start.
export async function startTestRegistry(
  name: string,
  tag: string,
  sizeBytes: number,
  // `corrupt` serves the layer with one byte changed: the Engine's digest check fails
  // after the download, in the middle of the pull's 200 stream.
  opts: { hold?: boolean; corrupt?: boolean } = {},
): Promise<TestRegistry> {
  let release = (): void => undefined;
  const released = opts.hold
    ? new Promise<void>((resolve) => (release = resolve))
    : Promise.resolve();
  const dir = await mkdtemp(join(tmpdir(), 'fleetgate-registry-'));
  let tar: Buffer;
  try {
    await writeFile(join(dir, 'weights.bin'), randomBytes(sizeBytes));
    tar = execFileSync('tar', ['-C', dir, '-c', 'weights.bin'], { maxBuffer: sizeBytes * 2 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const layer = gzipSync(tar);
  const served = Buffer.from(layer);
  if (opts.corrupt) served[served.length - 1] = (served.at(-1) ?? 0) ^ 0xff;
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/no-such-engine'] },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: config.length,
        digest: sha256(config),
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          size: layer.length,
          digest: sha256(layer),
        },
      ],
    }),
  );
  const blobs = new Map([
    [sha256(config), config],
    [sha256(layer), served],
  ]);

  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    res.setHeader('docker-distribution-api-version', 'registry/2.0');
    const send = (status: number, type: string, body: Buffer, digest?: string): void => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': body.length,
        ...(digest ? { 'docker-content-digest': digest } : {}),
      });
      if (req.method === 'HEAD') res.end();
      else if (body.length <= 64 * 1024) res.end(body);
      else {
        // Several chunks, so the Engine reports progress on the way.
        let offset = 0;
        const next = (): void => {
          if (offset >= body.length) return void res.end();
          const chunk = body.subarray(offset, offset + 256 * 1024);
          const half = offset < body.length / 2 && offset + chunk.length >= body.length / 2;
          offset += chunk.length;
          res.write(chunk, () => {
            if (half) void released.then(next);
            else setTimeout(next, 20);
          });
        };
        next();
      }
    };
    if (url === '/v2/' || url === '/v2') return send(200, 'application/json', Buffer.from('{}'));
    if (
      url === `/v2/${name}/manifests/${tag}` ||
      url === `/v2/${name}/manifests/${sha256(manifest)}`
    ) {
      return send(
        200,
        'application/vnd.docker.distribution.manifest.v2+json',
        manifest,
        sha256(manifest),
      );
    }
    const blob = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url);
    const body = blob?.[1] ? blobs.get(blob[1]) : undefined;
    if (blob?.[1] && body) return send(200, 'application/octet-stream', body, blob[1]);
    send(404, 'application/json', Buffer.from(JSON.stringify({ errors: [{ code: 'NOT_FOUND' }] })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    layerBytes: layer.length,
    release: () => release(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
