/**
 * The closed vocabulary of condition reasons an object's Ready condition can carry.
 * Every verdict compile() returns uses one of these; golden tests cover each.
 */
export const Reason = {
  /** Valid, all references resolve: in force on the gateways. */
  Ready: 'Ready',
  /** The object breaks its schema or a cross-field rule. */
  InvalidSpec: 'InvalidSpec',
  /** The model id or an alias is already served by an older ModelRoute. */
  ModelConflict: 'ModelConflict',
  /** A fallback model names no ModelRoute in force. */
  FallbackNotFound: 'FallbackNotFound',
  /** The fallback chain leads back to the model itself. */
  FallbackLoop: 'FallbackLoop',
  /** A referenced Secret does not exist (or, in a cluster, is not labelled tokenhub.io/credential: "true"). */
  SecretNotFound: 'SecretNotFound',
  /** A referenced Secret exists but has not opted in with the label tokenhub.io/credential: "true". */
  SecretNotLabelled: 'SecretNotLabelled',
  /** The referenced Secret exists but lacks the key. */
  SecretKeyNotFound: 'SecretKeyNotFound',
  /** The key is to be generated and the operator has not written its Secret yet. */
  CredentialPending: 'CredentialPending',
  /** Another, older ApiKey has the same key hash. */
  KeyConflict: 'KeyConflict',
  /** allowedModels matches no ModelRoute in force. */
  NoAllowedModels: 'NoAllowedModels',
  /** A named QuotaPolicy does not exist or is not in force (or the default is ambiguous). */
  PolicyNotFound: 'PolicyNotFound',
  /** More than one QuotaPolicy in the namespace says default: true. */
  DuplicateDefaultPolicy: 'DuplicateDefaultPolicy',
  /** The key's expiresAt has passed. */
  KeyExpired: 'KeyExpired',
  /** The key is disabled. */
  KeyDisabled: 'KeyDisabled',
  /** A ModelRoute (or a ceiling QuotaPolicy) outside the namespaces the platform names. */
  NotPlatformNamespace: 'NotPlatformNamespace',
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];
