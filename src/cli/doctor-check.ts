/** One line of `creddy doctor`. */
export interface Check {
  readonly check: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly message: string;
  /** What to change, for a warn or a fail. */
  readonly fix?: string;
}
