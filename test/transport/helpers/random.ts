/**
 * A small seeded generator for transport tests: a Weyl sequence (step 0x9E3779B9)
 * passed through a 32-bit avalanche mix. Good enough to make fault decisions
 * reproducible; not for anything statistical beyond that.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  };
}
