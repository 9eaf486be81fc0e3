import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';

/** PostgreSQL's default SCRAM iteration count (`scram_iterations`). */
export const SCRAM_ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, PostgreSQL's
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` text form). creddy sends this in
 * `CREATE ROLE … PASSWORD`, never the password: a statement that reaches the server's log (an
 * error, `log_statement = ddl`) then shows a verifier, from which no one can log in. `password`
 * must be ASCII (SASLprep leaves it unchanged); creddy's are base64url.
 */
export async function scramVerifier(password: string, options: { salt?: Buffer; iterations?: number } = {}): Promise<string> {
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  const salted = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(password, salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key))),
  );
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  salted.fill(0);
  clientKey.fill(0);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
