/**
 * Who is who on the controller ↔ daemon link. The daemon pins the client's CN
 * (its `--client-names`), the controller pins the daemon's DNS name (grpc's
 * `grpc.ssl_target_name_override`), so daemons are dialled by pod IP yet
 * identified by name.
 */

export const CA_COMMON_NAME = 'kerris-daemon-ca';
export const DAEMON_COMMON_NAME = 'kerris-daemon';
/** The only client CN the daemon lets call it. */
export const CONTROLLER_COMMON_NAME = 'kerris-controller';

/** Secret with the CA certificates and keys: read by the controller only. */
export const CA_SECRET_NAME = 'kerris-daemon-ca';
/** kubernetes.io/tls Secret the daemon pods mount at /etc/kerris/tls. */
export const DAEMON_TLS_SECRET_NAME = 'kerris-daemon-tls';

/** The DNS name in the daemon's serving certificate, in the controller's namespace. */
export const daemonServerName = (namespace: string): string => `${DAEMON_COMMON_NAME}.${namespace}.svc`;
