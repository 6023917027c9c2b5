// des.js (https://github.com/indutny/des.js) ships no TypeScript declarations. This covers
// the part src/auth/crypto/des.ts uses: single-block DES-ECB without padding.
declare module 'des.js' {
  interface DesCipher {
    /** Feed bytes; returns whole output blocks as a plain array of byte values. */
    update(data: ArrayLike<number>): number[];
    final(data?: ArrayLike<number>): number[];
  }
  interface DesCipherOptions {
    type: 'encrypt' | 'decrypt';
    key: ArrayLike<number>;
    padding?: boolean;
  }
  const desjs: {
    DES: { create(options: DesCipherOptions): DesCipher };
  };
  export default desjs;
}
