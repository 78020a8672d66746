// Fuzzes the ZIP reader of .keras archives (weights/stored_zip.h
// read_stored_zip_bytes): end-of-central-directory search, central directory
// against local headers, member bounds, CRC-32, refusal of compressed,
// encrypted and ZIP64 members. The input is the archive's bytes.
//
// Property: the members of an accepted archive, written again with
// write_stored_zip and read back, are the same names and bytes in the same
// order.
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "weights/stored_zip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::vector<tl::ZipMember> members;
  if (!tl::fuzz::expect_tl_error_only("read_stored_zip_bytes",
                                      [&] { members = tl::read_stored_zip_bytes(bytes, "fuzz.keras"); }))
    return 0;
  size_t total = 0;
  for (const tl::ZipMember& m : members) total += m.data.size() + m.name.size();
  TL_FUZZ_REQUIRE(total <= size, "members hold ", total, " bytes, more than the ", size, "-byte archive");

  // Known finding (docs/fuzzing.md, "zip-empty-name"): the reader accepts a
  // member with an empty name, which the writer refuses. Stepped over under
  // TL_FUZZ_LENIENT.
  if (tl::fuzz::lenient())
    for (const tl::ZipMember& m : members)
      if (m.name.empty()) return 0;

  const std::string path = (tl::fuzz::scratch_dir() / "again.zip").string();
  std::vector<tl::ZipMember> back;
  const bool written = tl::fuzz::expect_tl_error_only("write_stored_zip", [&] {
    tl::write_stored_zip(path, members);
    back = tl::read_stored_zip(path);
  });
  TL_FUZZ_REQUIRE(written, "an archive that was read cannot be written and read again");
  TL_FUZZ_REQUIRE(back.size() == members.size(), back.size(), " members read back, ", members.size(), " written");
  for (size_t i = 0; i < back.size(); ++i)
    TL_FUZZ_REQUIRE(back[i].name == members[i].name && back[i].data == members[i].data, "member ", i, " changed");
  return 0;
}
