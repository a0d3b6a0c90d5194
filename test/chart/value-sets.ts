/** The value sets the chart tests render, lint and apply: one a way of running TokenHub. */
import type { RenderOptions } from './helm.js';

export const VALUE_SETS = {
  default: {},
  redis: { set: ['redis.enabled=true'] },
  redisExistingSecret: { set: ['redis.enabled=true', 'redis.auth.existingSecret=redis-auth', 'redis.auth.secretKey=pw'] },
  externalRedis: {
    set: [
      'redis.url=rediss://redis.example.internal:6380/0',
      'redis.auth.existingSecret=external-redis',
      'redis.failureMode=fail-closed',
      'otel.endpoint=http://otel-collector.observability:4318',
    ],
  },
  autoscaling: {
    set: [
      'gateway.autoscaling.enabled=true',
      'gateway.autoscaling.minReplicas=3',
      'gateway.autoscaling.maxReplicas=20',
      'gateway.autoscaling.targetCPUUtilizationPercentage=60',
    ],
  },
  serviceMonitor: {
    set: ['serviceMonitor.enabled=true', 'serviceMonitor.labels.release=prometheus'],
    apiVersions: ['monitoring.coreos.com/v1/ServiceMonitor'],
  },
  watchNamespaces: { set: ['watchNamespaces={team-a,team-b}', 'platformNamespaces={team-a}'] },
  watchAllNamespaces: { set: ['watchAllNamespaces=true'] },
  restrictedEgress: {
    set: [
      'redis.enabled=true',
      'networkPolicy.egress.restrict=true',
      'networkPolicy.egress.apiServerCIDRs={10.96.0.1/32}',
      // An upstream provider's range (a documentation prefix here).
      'networkPolicy.egress.extraRules[0].to[0].ipBlock.cidr=203.0.113.0/24',
      'networkPolicy.egress.extraRules[0].ports[0].port=443',
    ],
  },
} satisfies Record<string, RenderOptions>;
