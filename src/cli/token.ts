// fnjail token new --tenant NAME [--id ID]: a bearer token for the HTTP API.
// It prints the token once (it is kept nowhere) and the entry to add to the
// tenant's "tokens" in the policy: its id and its SHA-256 (policy/tokens.ts).
// It needs no server and no policy: the admin pastes the entry, and the
// policy reload (SIGHUP, or the file watcher) makes the token valid.
import { randomBytes } from 'node:crypto';
import { newToken, tokenSha256 } from '../policy/tokens.js';
import { parse, usageError } from './args.js';

export const TOKEN_HELP = `usage: fnjail token new --tenant NAME [--id ID] [--json]

Makes a bearer token for the HTTP API (Authorization: Bearer fnj_...). The
token is printed once and kept nowhere; add the entry printed with it to the
"tokens" of tenant NAME in the policy (only its SHA-256 is kept there). The
token is valid once the policy is reloaded; removing the entry revokes it.

options:
  --tenant NAME   the tenant the token acts as (named in the entry's hint)
  --id ID         the token's id, in logs, the audit log, monitors and admins
                  (default: NAME- and 8 random hex digits)
  --json          print {"token": ..., "entry": {...}} instead
  --help          this text
`;

const ID = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

export async function tokenCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('token', args, {
    tenant: { type: 'string' },
    id: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(TOKEN_HELP);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'new') throw usageError('token', `expected 'new', not '${positionals.join(' ')}'`);
  const tenant = values.tenant;
  if (tenant === undefined) throw usageError('token', '--tenant NAME is required: the tenant the token acts as');
  const id = values.id ?? `${tenant}-${randomBytes(4).toString('hex')}`;
  if (!ID.test(id)) throw usageError('token', `--id must be letters, digits, _ . @ - (at most 64, not starting with . @ -), not '${id}'`);
  const token = newToken();
  const entry = { id, sha256: tokenSha256(token) };
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ token, tenant, entry })}\n`);
    return 0;
  }
  process.stdout.write(
    `${token}\n\n` +
      `This token is shown once. Add this entry to the "tokens" of tenant '${tenant}' in the policy:\n` +
      `  ${JSON.stringify(entry)}\n` +
      `then reload the policy (systemctl reload fnjail, or kill -HUP the server). Use it as:\n` +
      `  curl -H 'Authorization: Bearer ${token.slice(0, 8)}...' https://HOST:PORT/registry\n` +
      `  FNJAIL_TOKEN=fnj_... fnjail call NAME --url https://HOST:PORT --tls-ca CA.pem\n`,
  );
  return 0;
}
