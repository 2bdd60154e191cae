// The native API (/api/v1, docs/openapi.yaml) and the Jaeger query API under /jaeger.

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(typeof error === 'string' ? error : error.message || body?.errors?.[0]?.msg || `HTTP ${status}`);
    this.status = status;
    this.column = error.column;
    this.field = error.field;
  }
}

async function call(method, path, { params, body, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const response = await fetch(url, {
    method,
    signal,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { error: { message: text.trim() } };
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

export const api = {
  dataViews: () => call('GET', '/api/v1/data-views'),
  fields: (index) => call('GET', '/api/v1/fields', { params: { index } }),
  search: (body, signal) => call('POST', '/api/v1/logs/search', { body, signal }),
  values: (params, signal) => call('GET', '/api/v1/logs/values', { params, signal }),
  validate: (query, language, signal) => call('POST', '/api/v1/query/validate', { body: { query, language }, signal }),
};

export const jaeger = {
  services: () => call('GET', '/jaeger/api/services'),
  operations: (service) => call('GET', `/jaeger/api/services/${encodeURIComponent(service)}/operations`),
  find: (params, signal) => call('GET', '/jaeger/api/traces', { params, signal }),
  trace: (id) => call('GET', `/jaeger/api/traces/${encodeURIComponent(id)}`),
  dependencies: (params) => call('GET', '/jaeger/api/dependencies', { params }),
};
