// Watches an OpenAI chat-completions SSE stream as it arrives, cheaply: it notes when the
// first chunk carrying content shows up (time to first token), counts content chunks, and
// sees the closing `data: [DONE]` or an error event. It does not keep the body.

export class StreamProbe {
  // Content chunks seen so far; > 0 once the first token arrived.
  contentChunks = 0;
  done = false;
  error: string | undefined;
  private partial = '';

  // Feeds the next piece of the body; returns true if it held the first content chunk.
  push(text: string): boolean {
    const before = this.contentChunks;
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const raw of lines) this.line(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    return before === 0 && this.contentChunks > 0;
  }

  private line(line: string): void {
    if (!line.startsWith('data:')) return; // comments, event names, blank separators
    const data = line.slice(5).trimStart();
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    let event: unknown;
    try {
      event = JSON.parse(data);
    } catch {
      this.error ??= `unparsable event: ${data.slice(0, 120)}`;
      return;
    }
    if (typeof event !== 'object' || event === null) return;
    if ('error' in event) {
      this.error ??= JSON.stringify(event.error).slice(0, 200);
      return;
    }
    if (hasContent(event)) this.contentChunks += 1;
  }
}

function hasContent(event: object): boolean {
  if (!('choices' in event) || !Array.isArray(event.choices)) return false;
  const choice: unknown = event.choices[0];
  if (typeof choice !== 'object' || choice === null || !('delta' in choice)) return false;
  const delta = choice.delta;
  return (
    typeof delta === 'object' &&
    delta !== null &&
    'content' in delta &&
    typeof delta.content === 'string' &&
    delta.content.length > 0
  );
}
