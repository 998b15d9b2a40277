/**
 * The deployment's HTTP routes (convex/http.ts) on a real 127.0.0.1 port.
 * convex-test runs HTTP actions only in-process, through `t.fetch`; this
 * server hands every request it receives to `t.fetch` — method, path, headers
 * and body as they came over the wire — and writes the answer back, so a
 * client (the chainhook emulator, a test's `fetch`) talks to the endpoints
 * over HTTP exactly as it would to a deployment's site URL.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

type HttpBackend = { fetch(pathQueryFragment: string, init?: RequestInit): Promise<Response> };

export type ConvexHttpBridge = { url: string; close(): Promise<void> };

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startConvexHttpBridge(t: HttpBackend): Promise<ConvexHttpBridge> {
  const server = createServer((request, response) => {
    void (async () => {
      try {
        const headers = new Headers();
        for (const [name, value] of Object.entries(request.headers)) {
          if (typeof value === "string") headers.set(name, value);
          else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
        }
        const method = request.method ?? "GET";
        const body = method === "GET" || method === "HEAD" ? undefined : new Uint8Array(await bodyOf(request));
        const answer = await t.fetch(request.url ?? "/", { method, headers, body });
        const bytes = Buffer.from(await answer.arrayBuffer());
        const answerHeaders: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          answerHeaders[name] = value;
        });
        response.writeHead(answer.status, answerHeaders);
        response.end(bytes);
      } catch (error) {
        response.writeHead(502, { "content-type": "text/plain" });
        response.end(`bridge failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
