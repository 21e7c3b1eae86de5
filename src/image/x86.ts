/**
 * x86-64 decoding with iced-x86 (Rust compiled to WebAssembly): a linear sweep over a code range
 * that reports, per instruction, what the alignment and ASLR work needs: its length, whether it is
 * a near call / jmp / jcc with a rel32 target, a RIP-relative memory operand and its address, and
 * where the displacement and immediate fields sit in the bytes.
 *
 * iced-x86 pitfalls handled here: wasm objects are freed explicitly, one Instruction is reused via
 * `decodeOut`, and constant offsets are read right after each decode (they go stale otherwise).
 */
import { Decoder, DecoderOptions, Instruction, Code } from 'iced-x86';

export interface DecodedInstruction {
  ip: number;
  length: number;
  /** 'call' | 'jmp' | 'jcc' for near rel32 branches, else null. */
  branch: 'call' | 'jmp' | 'jcc' | null;
  /** Near branch target, or -1. */
  target: number;
  /** RIP-relative memory operand address, or -1. */
  ipRelAddress: number;
  displacementOffset: number;
  displacementSize: number;
  immediateOffset: number;
  immediateSize: number;
  invalid: boolean;
}

/** Decode `bytes` (loaded at `ip`) and call `visit` for every instruction; the object is reused. */
export function sweep(bytes: Uint8Array, ip: number, visit: (ins: DecodedInstruction) => void): void {
  const decoder = new Decoder(64, bytes, DecoderOptions.None);
  decoder.ip = BigInt(ip);
  const instr = new Instruction();
  const out: DecodedInstruction = {
    ip: 0,
    length: 0,
    branch: null,
    target: -1,
    ipRelAddress: -1,
    displacementOffset: 0,
    displacementSize: 0,
    immediateOffset: 0,
    immediateSize: 0,
    invalid: false,
  };
  try {
    while (decoder.canDecode) {
      decoder.decodeOut(instr);
      const co = decoder.getConstantOffsets(instr);
      out.ip = Number(instr.ip);
      out.length = instr.length;
      out.invalid = instr.code === Code.INVALID;
      out.displacementOffset = co.displacementOffset;
      out.displacementSize = co.displacementSize;
      out.immediateOffset = co.immediateOffset;
      out.immediateSize = co.immediateSize;
      co.free();
      out.branch = null;
      out.target = -1;
      // rel32 forms only (isJmpNear/isJccNear exclude rel8): a rel8 branch never leaves its input
      // section, because the assembler resolves those itself.
      if (instr.isCallNear) out.branch = 'call';
      else if (instr.isJmpNear) out.branch = 'jmp';
      else if (instr.isJccNear) out.branch = 'jcc';
      if (out.branch !== null) out.target = Number(instr.nearBranchTarget);
      out.ipRelAddress = instr.isIpRelMemoryOperand ? Number(instr.ipRelMemoryAddress) : -1;
      visit(out);
    }
  } finally {
    instr.free();
    decoder.free();
  }
}
