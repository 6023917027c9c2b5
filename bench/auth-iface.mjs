// The interface of bench/auth.mjs, shared by its server (bench/auth-server.mjs) and its client
// (bench/auth-load.mjs): built with the `ndr` namespace of the library under test.
//
//   Echo (opnum 0): [in] byte data[] (conformant), [out] the same bytes back + error_status_t.
//   Ping (opnum 1): [in] unsigned32, [out] the same value + error_status_t (the "tiny call").
export const BENCH_IFACE = { uuid: '6a8c2f1e-4b7d-4e0a-9c31-d0c0ab5e7f42', major: 1, minor: 0, name: 'AuthBench v1.0' };

export function benchIface(ndr) {
  return ndr.iface('AuthBench', BENCH_IFACE.uuid, BENCH_IFACE.major, BENCH_IFACE.minor, {
    Echo: ndr.op(0, {
      in: { data: ndr.conformantArray(ndr.u8) },
      out: { data: ndr.conformantArray(ndr.u8), status: ndr.errorStatus },
    }),
    Ping: ndr.op(1, {
      in: { value: ndr.u32 },
      out: { value: ndr.u32, status: ndr.errorStatus },
    }),
  });
}
