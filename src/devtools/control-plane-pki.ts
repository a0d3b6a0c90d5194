/**
 * Certificates for the local control plane, generated with the openssl CLI
 * (node:crypto can parse X.509 but cannot issue certificates, and we avoid
 * pulling in a pure-JS CA library just for tests).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './control-plane-process.js';

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  /** Service-account token signing key pair (PEM files). */
  saPublicKey: string;
  saPrivateKey: string;
}

/** The PEM contents a kubeconfig or HTTPS client needs to act as the admin user. */
export interface AdminCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** All paths passed to openssl are absolute, so no working directory is needed. */
async function openssl(args: string[]): Promise<void> {
  const res = await run('openssl', args, { timeoutMs: 30_000 }).catch((err: Error) => {
    throw new Error(
      `openssl is required to generate control-plane certificates (${err.message}). ` +
        'Install it with `apt-get install -y openssl` (Debian/Ubuntu) or your OS package manager.',
    );
  });
  if (res.code !== 0) {
    throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed:\n${res.stderr}`);
  }
}

/** P-256 keys: much faster to generate than RSA and accepted by kube-apiserver and kubectl. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

interface LeafSpec {
  name: string;
  subject: string;
  extensions: string;
}

async function issueLeaf(dir: string, spec: LeafSpec, ca: { cert: string; key: string }): Promise<void> {
  const base = join(dir, spec.name);
  const ext = `${base}.ext`;
  await writeFile(ext, spec.extensions);
  await openssl(['req', '-new', ...EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', spec.subject]);
  await openssl([
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-out',
    `${base}.crt`,
    '-days',
    '365',
    '-sha256',
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-extfile',
    ext,
  ]);
}

/**
 * Creates a CA, a serving cert for 127.0.0.1/localhost, an admin client cert
 * (CN=admin, O=system:masters, so RBAC lets it do anything) and the
 * service-account signing key pair, all in `dir`.
 */
export async function generatePki(dir: string): Promise<Pki> {
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '365',
    '-sha256',
    '-subj',
    '/CN=tokenhub-local-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const ca = { cert: caCert, key: caKey };
  await issueLeaf(
    dir,
    {
      name: 'apiserver',
      subject: '/CN=kube-apiserver',
      extensions: [
        'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1',
        'extendedKeyUsage=serverAuth',
        'keyUsage=critical,digitalSignature,keyEncipherment',
      ].join('\n'),
    },
    ca,
  );
  await issueLeaf(
    dir,
    {
      name: 'admin',
      subject: '/O=system:masters/CN=admin',
      extensions: 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n',
    },
    ca,
  );
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saPublicKey = join(dir, 'sa.pub');
  const saPrivateKey = join(dir, 'sa.key');
  await writeFile(saPublicKey, sa.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(saPrivateKey, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return {
    caCert,
    caKey,
    servingCert: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    saPublicKey,
    saPrivateKey,
  };
}

export async function loadAdminCredentials(pki: Pki): Promise<AdminCredentials> {
  const [caPem, certPem, keyPem] = await Promise.all([readFile(pki.caCert, 'utf8'), readFile(pki.adminCert, 'utf8'), readFile(pki.adminKey, 'utf8')]);
  return { caPem, certPem, keyPem };
}
