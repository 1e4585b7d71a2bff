// Data loading for the pages: a value fetched now and again every `everyMs`, with the
// last error; stops when the page goes away.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  reload: () => void;
}

export function usePoll<T>(
  load: () => Promise<T>,
  everyMs: number,
  deps: unknown[] = [],
): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const alive = useRef(true);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    alive.current = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = () => {
      load().then(
        (value) => {
          if (!alive.current) return;
          setData(value);
          setError(null);
          timer = setTimeout(run, everyMs);
        },
        (err: unknown) => {
          if (!alive.current) return;
          setError(err instanceof Error ? err.message : String(err));
          timer = setTimeout(run, everyMs);
        },
      );
    };
    run();
    return () => {
      alive.current = false;
      clearTimeout(timer);
    };
    // `load` is a new function each render; `deps` says when it asks for something else.
  }, [tick, everyMs, ...deps]);

  return { data, error, reload };
}
