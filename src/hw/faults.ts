/**
 * The translation-fault seam, between the walker (hardware) and whoever owns the tables.
 *
 * Contract: the walker calls `guestPageFault` when the guest table has no present leaf for a
 * guest-virtual address (or a write hits a read-only guest leaf), and `eptViolation` when the EPT
 * has no present leaf for a guest-physical address (or a write hits a read-only EPT leaf, e.g. a
 * page merged by KSM or mapped from the library pool). The handler must make the access possible
 * (map, or copy-on-write and remap) and return the cycles it cost; the walker then retries. In a
 * native (one-dimensional) walk only `guestPageFault` is used. A handler that cannot resolve the
 * fault throws.
 */
export interface TranslationFaultHandler {
  guestPageFault(gva: number, write: boolean): number;
  eptViolation(gpa: number, write: boolean): number;
}

/**
 * What the host and guest use to keep TLBs coherent after they change tables (as a hypervisor and
 * a guest kernel would): invalidate one guest-virtual page (INVLPG / INVVPID individual-address),
 * flush everything of this VM (INVEPT single-context / INVVPID single-context) or flush all
 * (INVEPT all-context). Each call is counted and costs cycles on the target vCPU.
 */
export interface TlbInvalidator {
  invalidatePage(gva: number): void;
  flushVm(): void;
  flushAll(): void;
}
