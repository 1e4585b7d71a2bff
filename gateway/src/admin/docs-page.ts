// The OpenAPI document as one self-contained HTML page (/admin/v1/docs), rendered on the
// server: no script, no stylesheet or font from elsewhere, so it works offline and behind
// the admin token alike (curl it with the token, or open it where the setting makes it
// public).

type JsonObject = Record<string, unknown>;

const escape = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch,
  );

const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

// A text field of the document, escaped; '' when it is not text.
const text = (v: unknown) => (typeof v === 'string' ? escape(v) : '');

// JSON with every component reference turned into a link to that schema.
function schemaHtml(schema: unknown): string {
  const json = escape(JSON.stringify(schema, null, 2));
  return `<pre>${json.replace(
    /&quot;\$ref&quot;: &quot;#\/components\/schemas\/([A-Za-z0-9_]+)&quot;/g,
    (_m, name: string) => `&quot;$ref&quot;: <a href="#schema-${name}">${name}</a>`,
  )}</pre>`;
}

function operationHtml(method: string, path: string, op: JsonObject): string {
  const parts = [
    `<section class="op" id="${text(op.operationId)}">`,
    `<h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${escape(path)}</code></h3>`,
    `<p>${text(op.summary)}</p>`,
  ];
  if (typeof op.description === 'string') parts.push(`<p>${escape(op.description)}</p>`);
  const security = Array.isArray(op.security) && op.security.length === 0 ? 'none' : 'bearer';
  parts.push(`<p class="auth">auth: ${security === 'none' ? 'none' : 'Bearer token'}</p>`);
  if (Array.isArray(op.parameters) && op.parameters.length) {
    const rows = op.parameters
      .filter(isObject)
      .map(
        (p) =>
          `<tr><td><code>${text(p.name)}</code></td><td>${text(p.in)}</td>` +
          `<td>${p.required === true ? 'yes' : 'no'}</td><td>${schemaHtml(p.schema)}</td></tr>`,
      );
    parts.push(
      `<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>${rows.join('')}</table>`,
    );
  }
  const body =
    isObject(op.requestBody) && isObject(op.requestBody.content)
      ? op.requestBody.content['application/json']
      : undefined;
  if (isObject(body)) parts.push('<h4>Request body</h4>', schemaHtml(body.schema));
  if (isObject(op.responses)) {
    for (const [status, response] of Object.entries(op.responses)) {
      if (!isObject(response) || status === 'default') continue;
      const content = isObject(response.content) ? response.content : {};
      for (const [type, media] of Object.entries(content)) {
        const schema = isObject(media) ? media.schema : undefined;
        parts.push(
          `<h4>${escape(status)} <code>${escape(type)}</code></h4>`,
          schema === undefined ? '' : schemaHtml(schema),
        );
      }
    }
  }
  parts.push('</section>');
  return parts.join('\n');
}

export function renderDocsPage(doc: JsonObject): string {
  const info = isObject(doc.info) ? doc.info : {};
  const title = text(info.title);
  const ops: string[] = [];
  const toc: string[] = [];
  for (const [path, item] of Object.entries(isObject(doc.paths) ? doc.paths : {})) {
    if (!isObject(item)) continue;
    for (const [method, op] of Object.entries(item)) {
      if (!isObject(op)) continue;
      ops.push(operationHtml(method, path, op));
      toc.push(
        `<li><a href="#${text(op.operationId)}"><span class="m ${method}">${method.toUpperCase()}</span> ${escape(path)}</a></li>`,
      );
    }
  }
  const components = isObject(doc.components) ? doc.components : {};
  const schemas = Object.entries(isObject(components.schemas) ? components.schemas : {}).map(
    ([name, schema]) =>
      `<section id="schema-${escape(name)}"><h3>${escape(name)}</h3>${schemaHtml(schema)}</section>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d1d1f}
nav{width:22rem;height:100vh;overflow:auto;position:sticky;top:0;background:#f5f5f7;padding:1rem;box-sizing:border-box;font-size:13px}
nav ul{list-style:none;padding:0}nav a{color:inherit;text-decoration:none}
main{flex:1;padding:1rem 2rem;max-width:60rem}
pre{background:#f5f5f7;padding:.5rem;overflow:auto;font-size:12px}
.m{display:inline-block;min-width:3.5rem;font-weight:600;font-family:monospace}
.get{color:#0a7d32}.post{color:#0b5cad}.patch{color:#9a6200}.delete{color:#b3261e}
.op{border-top:1px solid #ddd;padding-top:.5rem}.auth{color:#666;font-size:13px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25rem .5rem;vertical-align:top;text-align:left}
</style></head>
<body><nav><strong>${title}</strong> <small>${text(info.version)}</small>
<p><a href="openapi.json">openapi.json</a></p><ul>${toc.join('')}</ul>
<p><a href="#schemas">Schemas</a></p></nav>
<main><h1>${title}</h1><p>${text(info.description)}</p>
${ops.join('\n')}
<h2 id="schemas">Schemas</h2>
${schemas.join('\n')}
</main></body></html>
`;
}
