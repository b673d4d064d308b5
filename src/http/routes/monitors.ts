// What only root and the policy's monitors may see over HTTP (the same rule
// as fnjail stats on the classic socket): the statistics and the dashboard.
import type { FastifyRequest } from 'fastify';
import { FnjailError } from '../../errors.js';
import { describePeer, isMonitor } from '../../policy/tenants.js';
import type { ApiContext } from '../app.js';

/** Throws FNJ_DENIED (403) unless the request comes from root or a monitor of the policy in force. */
export function requireMonitor(context: ApiContext, request: FastifyRequest, what: string): void {
  if (request.credential === 'none' || !isMonitor(context.policy(), request.peer)) {
    throw new FnjailError('FNJ_DENIED', `${describePeer(request.peer)} may not see ${what} (root and the policy's monitors may)`, 'ask the admin to add you to "monitors" (docs/policy.md)');
  }
}
