/**
 * A validator that remembers its verdict per document object. The compile worker hands compile
 * the same objects again for every file that did not change (it keeps each file's parse) and for
 * every cluster object that did not (it keeps those it was sent), so a change to one object at
 * 10k keys validates one document, not 10k (a third of a reload's compile; issue #13).
 *
 * Only for a caller whose documents are never changed in place once parsed and which compiles
 * with one default namespace (compile fills `metadata.namespace` into the validated copy it
 * gets, which this hands out again): the compile worker.
 */
import { ResourceValidator, type ValidationResult } from '../../schema/validate.js';

export class RememberingValidator extends ResourceValidator {
  private readonly seen = new WeakMap<object, ValidationResult>();

  override validate(doc: unknown): ValidationResult {
    if (typeof doc !== 'object' || doc === null) return super.validate(doc);
    let result = this.seen.get(doc);
    if (result === undefined) this.seen.set(doc, (result = super.validate(doc)));
    return result;
  }
}
