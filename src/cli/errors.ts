import { DcomlabError } from '../base/errors';

/** A usage mistake on the command line (exit 2, like a bad file). */
export class CliError extends DcomlabError {
  override name = 'CliError';
}
