/**
 * YCSB against Redis, as YCSB's redis binding talks to the server: our CoreWorkload generator
 * (src/workload/ycsb.ts) decides the operations; each becomes the commands that
 * site.ycsb.db.RedisClient sends through Jedis
 * (https://github.com/brianfrankcooper/YCSB/blob/master/redis/src/main/java/site/ycsb/db/RedisClient.java):
 *
 *   insert   HMSET key field0 v0 .. field9 v9, then ZADD _indices hash(key) key
 *   read     HGETALL key (readallfields=true), or HMGET key fieldN
 *   update   HMSET key fieldN v (writeallfields=false: one field)
 *   scan     ZRANGEBYSCORE _indices hash(startkey) +inf LIMIT 0 count, then a read of each key
 *   read-modify-write   a read, then an update (CoreWorkload.doTransactionReadModifyWrite)
 *
 * One record is one hash of `fieldcount` fields of `fieldlength` bytes (YCSB defaults 10 x 100 B);
 * keys are "user" + fnvhash64(keynum) in decimal (insertorder=hashed); hash(key) is Java's
 * String.hashCode, as the binding uses for the scan index. Values are random printable bytes from
 * the seeded generator, as YCSB's RandomByteIterator fills them.
 */
import { Rng } from '../../base/rng.ts';
import { fnvHash64Parts } from '../../workload/fnv.ts';
import { ALL_FIELDS, Operation, OpKind } from '../../workload/op.ts';
import { YcsbWorkload } from '../../workload/ycsb.ts';
import { RespClient } from './resp.ts';

const INDEX_KEY = '_indices';

/** YCSB's key name for a keynum (CoreWorkload.buildKeyName, zeropadding 1). */
export function ycsbKeyName(keyNum: number, hashed: boolean): string {
  if (!hashed) return `user${keyNum}`;
  const [hi, lo] = fnvHash64Parts(keyNum);
  return `user${((BigInt(hi) << 32n) | BigInt(lo)).toString()}`;
}

/** java.lang.String.hashCode (UTF-16 code units, 32-bit wrap-around). */
export function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

export interface YcsbRedisResult {
  /** YCSB operations done in the load and run phases. */
  loadOperations: number;
  runOperations: number;
  /** Redis commands sent and answered in each phase. */
  loadRequests: number;
  runRequests: number;
}

class YcsbRedisDriver {
  private readonly hashed: boolean;

  constructor(
    private readonly client: RespClient,
    private readonly workload: YcsbWorkload,
    private readonly values: Rng,
  ) {
    this.hashed = workload.config.insertOrder === 'hashed';
  }

  private value(): Buffer {
    const b = Buffer.allocUnsafe(this.workload.config.fieldLength);
    for (let i = 0; i < b.length; i++) b[i] = 32 + this.values.nextInt(95);
    return b;
  }

  private fieldValues(field: number): (string | Buffer)[] {
    const out: (string | Buffer)[] = [];
    const n = this.workload.config.fieldCount;
    for (let f = 0; f < n; f++) if (field === ALL_FIELDS || field === f) out.push(`field${f}`, this.value());
    return out;
  }

  private async read(key: string, field: number): Promise<void> {
    if (field === ALL_FIELDS) await this.client.call('HGETALL', key);
    else await this.client.call('HMGET', key, `field${field}`);
  }

  async run(op: Operation): Promise<void> {
    const key = ycsbKeyName(op.keyNum, this.hashed);
    switch (op.kind) {
      case OpKind.Insert:
        await this.client.call('HMSET', key, ...this.fieldValues(ALL_FIELDS));
        await this.client.call('ZADD', INDEX_KEY, String(javaStringHash(key)), key);
        return;
      case OpKind.Read:
        return this.read(key, op.readField);
      case OpKind.Update:
        await this.client.call('HMSET', key, ...this.fieldValues(op.writeField));
        return;
      case OpKind.Scan: {
        const keys = await this.client.call('ZRANGEBYSCORE', INDEX_KEY, String(javaStringHash(key)), '+inf', 'LIMIT', '0', String(op.count));
        for (const k of keys as Buffer[]) await this.read(k.toString(), op.readField);
        return;
      }
      case OpKind.ReadModifyWrite:
        await this.read(key, op.readField);
        await this.client.call('HMSET', key, ...this.fieldValues(op.writeField));
        return;
      default:
        throw new Error(`YCSB on Redis: operation kind ${op.kind} is not a YCSB operation`);
    }
  }
}

/** Run a YCSB workload's load and run phases against the Redis server at 127.0.0.1:port. */
export async function runYcsbOnRedis(port: number, workload: YcsbWorkload, seed: number): Promise<YcsbRedisResult> {
  const client = await RespClient.connect(port);
  try {
    const driver = new YcsbRedisDriver(client, workload, new Rng(seed).fork('ycsb-values'));
    const op = new Operation();
    for (let i = 0; i < workload.loadCount; i++) {
      workload.nextLoad(op);
      await driver.run(op);
    }
    const loadRequests = client.completed;
    for (let i = 0; i < workload.runCount; i++) {
      workload.nextRun(op);
      await driver.run(op);
    }
    return { loadOperations: workload.loadCount, runOperations: workload.runCount, loadRequests, runRequests: client.completed - loadRequests };
  } finally {
    client.close();
  }
}
