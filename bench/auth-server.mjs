#!/usr/bin/env node
// The server of bench/auth.mjs, in its own process: dcomlab's RpcServer with NTLM (auth type
// 10) and SPNEGO (9) acceptors over one account, LAB\alice, and the AuthBench interface
// (bench/auth-iface.mjs: Echo answers the bytes it got, Ping the value it got).
//
//   node bench/auth-server.mjs JSON      JSON: { lib, host, port }   (port 0: any free port)
//
// Prints "listening HOST PORT" once bound; on SIGTERM or SIGINT closes the server and prints
// "stopped JSON" (calls answered, maxRSS) before exiting.
import { pathToFileURL } from 'node:url';
import { benchIface } from './auth-iface.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const { rpc, auth, ndr } = await import(pathToFileURL(cfg.lib).href);

// As src/cli/auth-options.ts serverAuthProvider(serverCredentials(['LAB\\alice:Secret1!'])).
const store = new auth.CredentialStore({ accounts: [auth.accountFromSpec('LAB\\alice:Secret1!')] });
const provider = {
  acceptor(authType) {
    if (authType === auth.RPC_C_AUTHN_WINNT) return new auth.NtlmAcceptor(store);
    if (authType === auth.RPC_C_AUTHN_GSS_NEGOTIATE) return new auth.SpnegoAcceptor(store);
    return undefined;
  },
};

const iface = benchIface(ndr);
const stats = { echo: 0, ping: 0, echoBytes: 0 };
const server = new rpc.RpcServer({ auth: provider });
server.addInterface(rpc.dispatcherFor(iface, {
  Echo: ({ data }) => {
    stats.echo++;
    stats.echoBytes += data.length;
    return { data, status: 0 };
  },
  Ping: ({ value }) => {
    stats.ping++;
    return { value, status: 0 };
  },
}));
const [addr] = await server.listen({ host: cfg.host ?? '127.0.0.1', port: cfg.port ?? 0 });
process.stdout.write(`listening ${addr.host} ${addr.port}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const t = setTimeout(() => finish(), 3000);
  try {
    await server.close();
  } catch {}
  clearTimeout(t);
  finish();
};
const finish = () => {
  process.stdout.write(`stopped ${JSON.stringify({ ...stats, maxRssKb: process.resourceUsage().maxRSS })}\n`, () => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop); // the parent went away
process.stdin.resume();
