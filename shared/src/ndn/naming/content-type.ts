/** ContentType values used on blob segments (NDN packet spec). */
export const ContentType = {
  Blob: 0,
  /** Application-level Nack: the producer has no such blob. */
  Nack: 3,
} as const;
