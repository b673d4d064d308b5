// How many connections the exposed functions hold at once: per function
// (--expose-max-connections) and per client address over all of them
// (--expose-max-per-client), counted from the accept to the end of the
// connection's call. A connection beyond either is refused at once: one
// client (or a flood of them) cannot take every sandbox of a service, nor
// every service's.

export interface ConnectionLimitsOptions {
  maxPerFunction: number;
  maxPerClient: number;
}

export class ConnectionLimits {
  private readonly byFunction = new Map<string, number>();
  private readonly byClient = new Map<string, number>();

  constructor(private readonly options: ConnectionLimitsOptions) {}

  /** Counts the connection in, or says why it is refused (it is then not counted). */
  admit(service: string, client: string): string | undefined {
    const { maxPerFunction, maxPerClient } = this.options;
    if ((this.byFunction.get(service) ?? 0) >= maxPerFunction) return `${maxPerFunction} connections to ${service} at once already (exposeMaxConnections)`;
    if ((this.byClient.get(client) ?? 0) >= maxPerClient) return `${maxPerClient} connections from ${client} at once already (exposeMaxPerClient)`;
    increment(this.byFunction, service, 1);
    increment(this.byClient, client, 1);
    return undefined;
  }

  /** An admitted connection ended. */
  release(service: string, client: string): void {
    increment(this.byFunction, service, -1);
    increment(this.byClient, client, -1);
  }

  /** Connections held now, in all. */
  get open(): number {
    let total = 0;
    for (const n of this.byFunction.values()) total += n;
    return total;
  }
}

function increment(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
