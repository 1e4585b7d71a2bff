// Whether the docker tests can run. In CI a missing Docker Engine is a failure (the tests
// must run there); elsewhere the tests skip and say why.
import Docker from 'dockerode';

export interface DockerAvailability {
  docker: Docker;
  reachable: boolean;
  reason?: string;
}

export async function dockerAvailability(): Promise<DockerAvailability> {
  const docker = new Docker();
  try {
    await docker.ping();
    return { docker, reachable: true };
  } catch (err) {
    const reason = `Docker Engine unreachable (${process.env.DOCKER_HOST ?? '/var/run/docker.sock'}): ${
      err instanceof Error ? err.message : String(err)
    }`;
    if (process.env.CI) {
      throw new Error(`${reason}; CI must run the docker tests (start dockerd, see .ci/run)`);
    }
    console.warn(`skipping docker tests: ${reason}`);
    return { docker, reachable: false, reason };
  }
}
