"""Harness for end-to-end tests against real TLS syslog peers (stdlib only, no tlslogd needed).

  procs    Proc(argv, log_path, stdout_path=None, env=None, cwd=None, name=None, hold_stdin=False)
           .start() .stop(timeout) .kill() .alive() .wait(t) .log() .log_tail(n); ProcGroup;
           wait_for(cond, timeout, what); run(argv, timeout, check); T(seconds) (scaled)
  ports    free_port(host); port_is_free(port, host); start_on_free_port(start, attempts);
           PortClash; wait_port(host, port, timeout) (connects);
           wait_listening(port, timeout, proc=None, clash=None) (/proc, no probe); listens(port, pid)
  certs    Pki(dir, key_type="ec"|"rsa", days): .ca .other_ca .intermediate .new_ca(name, issuer)
           .leaf(name, dns, ip, cn, issuer, days, key_type, eku, startdate, enddate)
           .expired_leaf() .not_yet_valid_leaf() .self_signed() .revoke(leaf)->crl .crl(ca)
           .bundle(file, *certs) .ca_dir(dir, *certs, crls=()) .text(cert)
           Cert: .cert .key .chain .ca_file .issuer .fingerprint_sha256 .fingerprint_sha1 .serial
  rsyslog  Rsyslog(workdir, name): .tls_receiver() .tls_sender() .legacy_seed_server()
           .legacy_seed_client() .relp_receiver() .relp_sender() .set_global() .load() .add()
           .start() .stop() .check_config() .log() .internal; available(), relp_available()
  syslogng SyslogNg(workdir, name): .tls_receiver() .tls_sender() .add() .start() .stop()
           .check_config() .log(); available()
  openssl  SServer(workdir, cert, key, port, ca, chain, require_cert, verify, naccept, tls, ...)
           .start() .data() .wait_data(pred) .stop(); s_client(port, data, ...) -> SClientResult
  local    numbered(marker, n); check_numbered(lines, marker, n, exact); UnixDgramFeed(path);
           TcpFeed(port); logger_send(path, msgs); OutputFile(path); octet_frame(msg);
           parse_octet_frames(data); rfc3164(msg, tag, pri)

Receivers return an object with .port and .out (an OutputFile); senders one with .feed (its
local input: .feed.send(msgs)). Everything listens on 127.0.0.1; processes are stopped by PID.
"""
