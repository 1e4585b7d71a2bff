// Reads a whole answer from a node with a byte cap, so a broken or hostile node cannot make
// the gateway buffer an unbounded body (Response.text() has no limit). A declared
// Content-Length over the cap is refused before reading; an undeclared one is counted as it
// arrives and the read is cancelled (closing the connection) as soon as it passes the cap.

export class AnswerTooLargeError extends Error {
  override readonly name = 'AnswerTooLargeError';
  readonly code = 'upstream_response_too_large';
  constructor(readonly maxBytes: number) {
    super(`the node's answer is larger than ${maxBytes} bytes`);
  }
}

export async function readTextCapped(res: Response, maxBytes: number): Promise<string> {
  const body = res.body;
  if (body === null) return '';
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await body.cancel().catch(() => undefined);
    throw new AnswerTooLargeError(maxBytes);
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new AnswerTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}
