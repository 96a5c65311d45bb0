// The `stopword` package ships no type declarations; this covers the one export Quarry uses.
declare module 'stopword' {
  export const eng: readonly string[];
}
