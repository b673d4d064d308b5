// Errno names a profile may use ("EPERM", "ENOSYS") and their numbers. Node's
// os.constants.errno holds the platform's values (Linux here), so no number is
// typed by hand; it lacks a few rare names, which a profile then cannot use.
import os from 'node:os';

const ERRNO: Readonly<Record<string, number>> = os.constants.errno;

export function errnoNumber(name: string): number | undefined {
  return Object.hasOwn(ERRNO, name) ? ERRNO[name] : undefined;
}

export function errnoName(value: number): string | undefined {
  // Aliases (EWOULDBLOCK = EAGAIN, ENOTSUP = EOPNOTSUPP) share a number: the
  // first name in the table is as good as any other for a listing.
  return Object.keys(ERRNO).find((name) => ERRNO[name] === value);
}
