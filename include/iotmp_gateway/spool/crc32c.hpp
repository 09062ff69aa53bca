// CRC-32C (Castagnoli), the checksum of every spool record. Own small
// implementation rather than zlib's crc32: CRC-32C detects more error patterns
// at record sizes (RFC 3720 chose it for iSCSI for that), it is what ext4, btrfs
// and LevelDB/RocksDB logs use, and it costs no extra build dependency.
#pragma once

#include <cstdint>
#include <span>

namespace iotgw::spool {

// crc: the value of the data before (0 to start), so a record can be summed in parts.
std::uint32_t crc32c(std::span<const std::uint8_t> data, std::uint32_t crc = 0) noexcept;

}  // namespace iotgw::spool
