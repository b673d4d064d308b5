// Request bodies: read by the routes themselves, as streams, each route with
// its own limit. A body announced larger than the limit (Content-Length) is
// refused before a byte of it is read; one that turns out larger (chunked)
// is refused at the limit, the bytes before it in a file (a call's input) or
// in memory up to a bundle's limit, never more. Either way the connection is
// closed after the refusal: the rest of the body is read and thrown away for
// a moment (so that the client can read the 413 before the connection goes,
// where closing at once could reset it), then cut off. A client that asked
// "Expect: 100-continue" gets its 100 only from a route that reads the body.
import type net from 'node:net';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FnjailError } from '../errors.js';

/** How long a refused body is drained before its connection is cut. */
const LINGER_MS = 2000;

/** The body to read, or undefined when there is none; throws `tooLarge()` when its Content-Length is over maxBytes. */
export function requestBody(request: FastifyRequest, reply: FastifyReply, maxBytes: number, tooLarge: () => FnjailError): Readable | undefined {
  const length = request.headers['content-length'];
  if (length !== undefined && Number(length) > maxBytes) throw tooLarge();
  const body = request.body as Readable | undefined;
  if (body && request.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
  return body;
}

/** A body read whole into memory (a bundle, a job's input), refused with `tooLarge()` past maxBytes. */
export async function readWhole(body: Readable, maxBytes: number, tooLarge: () => FnjailError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body.iterator({ destroyOnReturn: false })) {
    bytes += (chunk as Buffer).length;
    if (bytes > maxBytes) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** After this reply, the connection closes: its client may still be sending a body nobody will read. */
export function closeAfterReply(request: FastifyRequest, reply: FastifyReply): void {
  const socket: net.Socket | null = request.raw.socket ?? reply.raw.socket;
  if (!socket) return; // gone already
  reply.raw.once('finish', () => {
    // Node reads and discards what is left of the request meanwhile; the client sees our end, then the cut.
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}
