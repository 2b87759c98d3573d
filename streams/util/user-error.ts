/**
 * An error the user's situation caused (a setting, a missing server, a refusal), whose message
 * says what happened and what to do. The CLI prints it as advice; any other error is a bug.
 */
export class UserFacingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
