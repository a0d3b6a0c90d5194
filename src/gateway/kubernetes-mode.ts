/** `tokenhub gateway --kubernetes`: config from the cluster's ModelRoutes, ApiKeys and QuotaPolicies. */
export async function kubernetesGateway(_args: string[]): Promise<number> {
  process.stderr.write('tokenhub: gateway --kubernetes is not available in this build yet; use --config PATH\n');
  return 2;
}
