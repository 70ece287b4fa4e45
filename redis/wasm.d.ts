/** `import x from "....wasm" with { type: "file" }` gives the file's path (embedded by `bun build --compile`). */
declare module "wasmoon/dist/glue.wasm" {
  const path: string;
  export default path;
}
