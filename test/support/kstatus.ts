/**
 * The status a kstatus reader (Flux's health checks and `flux ... --wait`, `kpt live status`,
 * cli-utils) computes for a custom resource, after sigs.k8s.io/cli-utils pkg/kstatus/status
 * (Compute → checkGenericProperties → checkGeneration; custom resources have no type-specific
 * rules, so whatever the generic rules leave undecided is Current):
 *   1. metadata.deletionTimestamp set → Terminating;
 *   2. status.observedGeneration present and ≠ metadata.generation → InProgress;
 *   3. a condition Reconciling=True → InProgress; Stalled=True → Failed (first one found wins);
 *   4. otherwise → Current. Ready is not read at all.
 */
export type KStatus = 'InProgress' | 'Failed' | 'Current' | 'Terminating';

interface Unstructured {
  metadata?: { generation?: number; deletionTimestamp?: string };
  status?: { observedGeneration?: number; conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

export function kstatusOf(obj: Unstructured): { status: KStatus; reason?: string } {
  if (obj.metadata?.deletionTimestamp) return { status: 'Terminating' };
  const observed = obj.status?.observedGeneration;
  if (observed !== undefined && observed !== obj.metadata?.generation) return { status: 'InProgress', reason: 'LatestGenerationNotObserved' };
  for (const c of obj.status?.conditions ?? []) {
    if (c.type === 'Reconciling' && c.status === 'True') return { status: 'InProgress', reason: c.reason ?? '' };
    if (c.type === 'Stalled' && c.status === 'True') return { status: 'Failed', reason: c.reason ?? '' };
  }
  return { status: 'Current' };
}
