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

/** What a reason means beyond its name, in one place for compile, the gateway, the operator and validate. */
export interface ReasonAttributes {
  /**
   * Not Ready, yet the object's version is in force: the key stays in the config so its 401 can
   * say why, and an edit that leads here is what was asked for, not a mistake to hold back.
   */
  readonly inForce: boolean;
  /** `tokenhub validate`: 'warning' for what a Git checkout cannot know (Secrets) or states an intent. */
  readonly offline: 'error' | 'warning';
  /** The field a cross-object reason is about, for the validate report ('-' when none). */
  readonly field: string;
  /**
   * What the operator's Reconciling/Stalled conditions say of an object with this reason:
   * 'stalled' needs someone to change an object; 'reconciling' the operator itself will act
   * next; 'off' is what the object asked for, in force but not ready; 'ready' is Ready.
   */
  readonly progress: 'ready' | 'reconciling' | 'stalled' | 'off';
}

const attrs = (field: string, more: Partial<Omit<ReasonAttributes, 'field'>> = {}): ReasonAttributes => ({
  inForce: false,
  offline: 'error',
  progress: 'stalled',
  field,
  ...more,
});

export const REASONS = {
  Ready: attrs('-', { inForce: true, progress: 'ready' }),
  InvalidSpec: attrs('-'),
  ModelConflict: attrs('spec.model'),
  FallbackNotFound: attrs('spec.fallbackModels'),
  FallbackLoop: attrs('spec.fallbackModels'),
  SecretNotFound: attrs('spec', { offline: 'warning' }),
  SecretNotLabelled: attrs('spec'),
  SecretKeyNotFound: attrs('spec'),
  CredentialPending: attrs('spec.credential.generate', { offline: 'warning', progress: 'reconciling' }),
  KeyConflict: attrs('spec.credential'),
  NoAllowedModels: attrs('spec.allowedModels'),
  PolicyNotFound: attrs('spec.quotaPolicies'),
  DuplicateDefaultPolicy: attrs('spec.default'),
  KeyExpired: attrs('spec.expiresAt', { inForce: true }),
  KeyDisabled: attrs('spec.disabled', { inForce: true, offline: 'warning', progress: 'off' }),
  NotPlatformNamespace: attrs('metadata.namespace'),
} as const satisfies Record<ReasonCode, ReasonAttributes>;

/** The progress a reason stands for; an unknown reason needs a change from outside. */
export function progressOfReason(reason: string): ReasonAttributes['progress'] {
  return (REASONS as Record<string, ReasonAttributes | undefined>)[reason]?.progress ?? 'stalled';
}

/** Whether an object with this reason serves as it is (Ready, or a key's stated condition). */
export function isInForce(reason: string): boolean {
  return (REASONS as Record<string, ReasonAttributes | undefined>)[reason]?.inForce === true;
}
