// A parser for the Prometheus text exposition format (version 0.0.4), enough for what
// engines expose: samples with labels and values; comments, HELP and TYPE lines skipped.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(raw: string): number | undefined {
  switch (raw) {
    case '+Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default: {
      const n = Number(raw);
      return raw !== '' && !Number.isNaN(n) ? n : undefined;
    }
  }
}

// Reads `{a="x",b="y\"z"}` starting at `start` (the '{'); returns the labels and the index
// after '}', or undefined when malformed.
function parseLabels(
  line: string,
  start: number,
): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return { labels, end: i + 1 };
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (!nameMatch) return undefined;
    const name = nameMatch[0];
    i += name.length;
    while (line[i] === ' ') i++;
    if (line[i] !== '=') return undefined;
    i++;
    while (line[i] === ' ') i++;
    if (line[i] !== '"') return undefined;
    i++;
    let value = '';
    for (;;) {
      const ch = line[i];
      if (ch === undefined) return undefined;
      if (ch === '\\') {
        const next = line[i + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        i += 2;
        continue;
      }
      if (ch === '"') {
        i++;
        break;
      }
      value += ch;
      i++;
    }
    labels[name] = value;
  }
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) continue;
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const parsed = parseLabels(rest, 0);
      if (!parsed) continue;
      labels = parsed.labels;
      rest = rest.slice(parsed.end);
    }
    // A value, optionally followed by a timestamp.
    const value = parseValue(rest.trim().split(/\s+/)[0] ?? '');
    if (value === undefined) continue;
    samples.push({ name, labels, value });
  }
  return samples;
}
