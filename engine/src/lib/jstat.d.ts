// The `jstat` package ships no type declarations; this covers the one function Quarry uses (learned fusion).
declare module 'jstat' {
  const jStat: { beta: { sample(alpha: number, beta: number): number } };
  export default jStat;
}
