/**
 * The part of the WebAssembly JavaScript API the project uses, typed here because the project's lib
 * settings carry no DOM types (where `WebAssembly` is declared): compiling and instantiating the
 * AssemblyScript modules (src/base/asc.ts builds them) and the access path's memory (src/hw/arena.ts).
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}

export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
