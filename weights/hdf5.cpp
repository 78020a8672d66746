// HDF5 C API wrappers (see hdf5.h). Everything that touches libhdf5 sits
// inside TL_HAVE_HDF5; the other branch keeps the same functions and throws.
//
// Error handling: HDF5's automatic error printing is switched off
// (H5Eset_auto2) so a bad file never sprays a stack dump on stderr; instead
// each failure becomes a tl::Error that names the file and object, says what
// was expected, and appends the innermost HDF5 message, e.g.
// "[HDF5: truncated file: eof = 1000, ...]".
#include "weights/hdf5.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "runtime/check.h"
#include "weights/crc32c.h"

#ifdef TL_HAVE_HDF5
#include <hdf5.h>  // angle brackets: the libhdf5 header, not this directory's hdf5.h

#include <cstdio>
#include <cstring>
#include <type_traits>
#endif

namespace tl::h5 {

// HDF5's descriptions of failed reads and writes embed ctime()'s string,
// which ends in a newline ("file write failed: time = Sun Nov 29 15:29:16
// 2026\n, filename = ..."), plus buffer addresses and byte counts. Keep the
// part a user can act on: "file write failed: File too large (errno 27)".
// Any other description is only folded onto one line.
std::string one_line_error(std::string text) {
  const size_t failed = text.find(" failed: time = ");
  const size_t said = text.find("error message = '");
  const size_t errno_at = text.find("errno = ");
  if (failed != std::string::npos && said != std::string::npos) {
    const size_t begin = said + std::strlen("error message = '");
    const size_t end = text.find('\'', begin);
    std::string short_text = text.substr(0, failed) + " failed: " + text.substr(begin, end - begin);
    if (errno_at != std::string::npos) {
      const size_t digits = errno_at + std::strlen("errno = ");
      short_text += " (errno " + text.substr(digits, text.find_first_not_of("0123456789", digits) - digits) + ")";
    }
    return short_text;
  }
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

#ifdef TL_HAVE_HDF5

static_assert(std::is_same_v<hid_t, H5Id>, "H5Id must be hid_t (HDF5 >= 1.10)");

namespace {

namespace fs = std::filesystem;

// Turns off HDF5's printing of its error stack. The stack is still recorded
// and hdf5_message() reads it. Cheap, so it is simply done on every entry.
void quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (err != nullptr && err->desc != nullptr) out->emplace_back(err->desc);
  return 0;
}

// " [HDF5: <innermost description>]" for the last failed call, or "".
// Always one line: the apps print errors as one line.
std::string hdf5_message() {
  std::vector<std::string> messages;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &messages);
  H5Eclear2(H5E_DEFAULT);
  return messages.empty() ? std::string() : " [HDF5: " + one_line_error(messages.back()) + "]";
}

std::string file_name_of(hid_t id) {
  const ssize_t n = H5Fget_name(id, nullptr, 0);
  if (n <= 0) return "?";
  std::vector<char> buf(static_cast<size_t>(n) + 1, '\0');
  H5Fget_name(id, buf.data(), buf.size());
  return std::string(buf.data());
}

std::string object_name_of(hid_t id) {
  const ssize_t n = H5Iget_name(id, nullptr, 0);
  if (n <= 0) return "";
  std::vector<char> buf(static_cast<size_t>(n) + 1, '\0');
  H5Iget_name(id, buf.data(), buf.size());
  return std::string(buf.data());
}

// Wraps a freshly returned id, or throws `context` plus HDF5's reason.
H5Handle checked(hid_t id, H5Kind kind, const std::string& context) {
  if (id < 0) fail(context, hdf5_message());
  return H5Handle(id, kind);
}

std::string hex32(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%08llx", static_cast<unsigned long long>(value));
  return buf;
}

const char* class_name(hid_t type) {
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: return "integers";
    case H5T_FLOAT: return "floating-point values";
    case H5T_STRING: return "strings";
    case H5T_BITFIELD: return "a bitfield";
    case H5T_OPAQUE: return "opaque data";
    case H5T_COMPOUND: return "a compound type";
    case H5T_REFERENCE: return "references";
    case H5T_ENUM: return "an enum";
    case H5T_VLEN: return "variable-length sequences";
    case H5T_ARRAY: return "arrays";
    default: return "an unknown type";
  }
}

// Reclaims the buffers HDF5 allocated for variable-length strings.
void reclaim_vlen(hid_t mem_type, hid_t space, void* buf) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(mem_type, space, H5P_DEFAULT, buf);
#else
  // 1.10 declares H5Treclaim but does not export it; this is its old name.
  H5Dvlen_reclaim(mem_type, space, H5P_DEFAULT, buf);
#endif
}

// Attributes and datasets larger than this are treated as corrupt headers
// rather than allocated (Keras attributes are < 64 KiB, ResNet50's largest
// tensor is 8 MB).
constexpr uint64_t kMaxBytes = uint64_t(1) << 34;

// The in-memory file of an AtomicFile grows in steps of this many bytes.
constexpr size_t kCoreIncrement = size_t(16) << 20;

H5Handle open_attribute(const H5Handle& obj, const std::string& name) {
  if (!has_attribute(obj, name)) fail(describe(obj), ": has no attribute '", name, "'");
  return checked(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), H5Kind::Attribute,
                 describe(obj) + ": cannot open attribute '" + name + "'");
}

// Every string in one attribute, in storage order (see hdf5.h for the forms).
std::vector<std::string> read_attribute_strings(const H5Handle& obj, const std::string& name) {
  const H5Handle attr = open_attribute(obj, name);
  const std::string what = describe(obj) + ": attribute '" + name + "'";
  const H5Handle type = checked(H5Aget_type(attr.get()), H5Kind::Datatype, what + ": no type");
  const H5Handle space = checked(H5Aget_space(attr.get()), H5Kind::Dataspace, what + ": no dataspace");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) fail(what, ": cannot read its size", hdf5_message());
  // Count before type: h5py stores an empty list as float64 (0,).
  if (n == 0) return {};
  if (H5Tget_class(type.get()) != H5T_STRING)
    fail(what, " holds ", class_name(type.get()), ", expected strings");

  const size_t count = static_cast<size_t>(n);
  std::vector<std::string> out;
  out.reserve(count);
  const htri_t variable = H5Tis_variable_str(type.get());
  if (variable < 0) fail(what, ": cannot inspect its string type", hdf5_message());
  if (variable > 0) {
    // Memory type: variable-length C strings in the file's character set
    // (HDF5 refuses ASCII <-> UTF-8 conversion).
    const H5Handle mem = checked(H5Tcopy(H5T_C_S1), H5Kind::Datatype, what + ": H5Tcopy");
    if (H5Tset_size(mem.get(), H5T_VARIABLE) < 0 || H5Tset_cset(mem.get(), H5Tget_cset(type.get())) < 0)
      fail(what, ": cannot build a string memory type", hdf5_message());
    std::vector<char*> ptrs(count, nullptr);
    if (H5Aread(attr.get(), mem.get(), ptrs.data()) < 0)
      fail(what, ": cannot read its strings", hdf5_message());
    for (char* p : ptrs) out.emplace_back(p != nullptr ? p : "");
    reclaim_vlen(mem.get(), space.get(), ptrs.data());
  } else {
    const size_t width = H5Tget_size(type.get());
    if (width == 0) fail(what, ": fixed-length strings of width 0");
    if (uint64_t(count) * width > kMaxBytes) fail(what, ": implausibly large (damaged file?)");
    // Read with a copy of the file type: it keeps the padding and cset. A
    // NULLTERM memory type of the same width would cut the last character
    // of the longest name in a NULLPAD list (it has no terminating NUL).
    const H5Handle mem = checked(H5Tcopy(type.get()), H5Kind::Datatype, what + ": H5Tcopy");
    std::vector<char> buf(count * width, '\0');
    if (H5Aread(attr.get(), mem.get(), buf.data()) < 0)
      fail(what, ": cannot read its strings", hdf5_message());
    const bool space_padded = H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD;
    for (size_t i = 0; i < count; ++i) {
      const char* s = buf.data() + i * width;
      size_t len = strnlen(s, width);
      if (space_padded)
        while (len > 0 && s[len - 1] == ' ') --len;
      out.emplace_back(s, len);
    }
  }
  return out;
}

// A property list that makes create calls build missing parent groups.
H5Handle intermediate_groups_lcpl() {
  H5Handle lcpl = checked(H5Pcreate(H5P_LINK_CREATE), H5Kind::PropertyList, "H5Pcreate(link create)");
  if (H5Pset_create_intermediate_group(lcpl.get(), 1) < 0) fail("H5Pset_create_intermediate_group", hdf5_message());
  return lcpl;
}

void delete_attribute_if_present(const H5Handle& obj, const std::string& name) {
  if (has_attribute(obj, name) && H5Adelete(obj.get(), name.c_str()) < 0)
    fail(describe(obj), ": cannot replace attribute '", name, "'", hdf5_message());
}

void write_attribute(const H5Handle& obj, const std::string& name, hid_t file_type, hid_t space,
                     hid_t mem_type, const void* data) {
  delete_attribute_if_present(obj, name);
  const H5Handle attr = checked(H5Acreate2(obj.get(), name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT),
                                H5Kind::Attribute,
                                describe(obj) + ": cannot create attribute '" + name +
                                    "' (attributes over 64 KiB must be split into chunks)");
  if (data != nullptr && H5Awrite(attr.get(), mem_type, data) < 0)
    fail(describe(obj), ": cannot write attribute '", name, "'", hdf5_message());
}

// Splits "a/b/c" into its non-empty components.
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > start) parts.push_back(path.substr(start, end - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

H5I_type_t object_type(const H5Handle& parent, const std::string& path) {
  if (!has_link(parent, path)) return H5I_BADID;
  const hid_t obj = H5Oopen(parent.get(), path.c_str(), H5P_DEFAULT);
  if (obj < 0) {
    H5Eclear2(H5E_DEFAULT);
    return H5I_BADID;
  }
  const H5I_type_t type = H5Iget_type(obj);
  H5Oclose(obj);
  return type;
}

}  // namespace

void H5Handle::reset() noexcept {
  if (id_ < 0) return;
  switch (kind_) {
    case H5Kind::File: H5Fclose(id_); break;
    case H5Kind::Group: H5Gclose(id_); break;
    case H5Kind::Dataset: H5Dclose(id_); break;
    case H5Kind::Attribute: H5Aclose(id_); break;
    case H5Kind::Datatype: H5Tclose(id_); break;
    case H5Kind::Dataspace: H5Sclose(id_); break;
    case H5Kind::PropertyList: H5Pclose(id_); break;
  }
  id_ = -1;
}

bool hdf5_available() { return true; }
std::string hdf5_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

std::string describe(const H5Handle& obj) {
  if (!obj.valid()) return "'<closed HDF5 object>'";
  // Built with append: GCC 12 gives a false -Wrestrict on "'" + str + "'".
  std::string s = "'";
  s.append(file_name_of(obj.get())).append("'");
  const std::string name = object_name_of(obj.get());
  if (!name.empty() && name != "/") s.append(" at '").append(name).append("'");
  return s;
}

// ---- reading ----------------------------------------------------------------

H5Handle open_file_readonly(const std::string& path) {
  quiet();
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) fail("cannot open '", path, "': file not found");
  if (fs::is_directory(status)) fail("cannot open '", path, "': it is a directory, not an HDF5 file");
  const uintmax_t size = fs::file_size(path, ec);
  if (!ec && size == 0) fail("cannot open '", path, "': the file is empty (0 bytes), not an HDF5 file");
#if H5_VERSION_GE(1, 12, 0)
  const htri_t is_hdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
#endif
  if (is_hdf5 == 0)
    fail("cannot open '", path, "': not an HDF5 file (no HDF5 signature in its ", size,
         " bytes); expected a Keras .h5 or .weights.h5 file");
  if (is_hdf5 < 0) fail("cannot read '", path, "' (permissions?)", hdf5_message());
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    fail("cannot open '", path, "': it starts like an HDF5 file but cannot be opened; it is probably ",
         "truncated or damaged (", size, " bytes): download or copy it again", hdf5_message());
  return H5Handle(file, H5Kind::File);
}

H5Handle open_group(const H5Handle& parent, const std::string& path) {
  quiet();
  const H5I_type_t type = object_type(parent, path);
  if (type == H5I_BADID) fail(describe(parent), ": no group '", path, "'");
  if (type != H5I_GROUP) fail(describe(parent), ": '", path, "' is not a group");
  return checked(H5Gopen2(parent.get(), path.c_str(), H5P_DEFAULT), H5Kind::Group,
                 describe(parent) + ": cannot open group '" + path + "'");
}

bool has_attribute(const H5Handle& obj, const std::string& name) {
  quiet();
  const htri_t r = H5Aexists(obj.get(), name.c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

bool has_link(const H5Handle& parent, const std::string& path) {
  quiet();
  const std::vector<std::string> parts = split_path(path);
  if (parts.empty()) return !path.empty();  // "/" or "." style paths name the parent or root
  // H5Lexists fails (rather than returning false) when a parent is missing,
  // so test each prefix in turn.
  std::string prefix = path[0] == '/' ? "/" : "";
  for (const std::string& part : parts) {
    prefix += (prefix.empty() || prefix == "/" ? "" : "/") + part;
    const htri_t r = H5Lexists(parent.get(), prefix.c_str(), H5P_DEFAULT);
    if (r <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

bool is_group(const H5Handle& parent, const std::string& path) {
  return object_type(parent, path) == H5I_GROUP;
}

bool is_dataset(const H5Handle& parent, const std::string& path) {
  return object_type(parent, path) == H5I_DATASET;
}

bool tracks_creation_order(const H5Handle& group) {
  quiet();
  const hid_t g = H5Gopen2(group.get(), ".", H5P_DEFAULT);  // a file id becomes its root group
  const hid_t gcpl = g < 0 ? -1 : H5Gget_create_plist(g);
  if (g >= 0) H5Gclose(g);
  if (gcpl < 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  unsigned flags = 0;
  const bool tracked = H5Pget_link_creation_order(gcpl, &flags) >= 0 && (flags & H5P_CRT_ORDER_TRACKED) != 0;
  H5Pclose(gcpl);
  return tracked;
}

std::vector<std::string> list_children(const H5Handle& group) {
  quiet();
  // "." re-opens a file id as its root group, so files and groups both work.
  const H5Handle g = checked(H5Gopen2(group.get(), ".", H5P_DEFAULT), H5Kind::Group,
                             describe(group) + ": not a group, cannot list it");
  H5G_info_t info;
  if (H5Gget_info(g.get(), &info) < 0) fail(describe(group), ": cannot list the group", hdf5_message());
  const H5_index_t index = tracks_creation_order(g) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> names;
  names.reserve(info.nlinks);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n = H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail(describe(group), ": cannot read the name of link ", i, hdf5_message());
    std::vector<char> buf(static_cast<size_t>(n) + 1, '\0');
    H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, buf.data(), buf.size(), H5P_DEFAULT);
    names.emplace_back(buf.data());
  }
  return names;
}

namespace {
herr_t collect_attribute(hid_t /*loc*/, const char* name, const H5A_info_t* /*info*/, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> list_attributes(const H5Handle& obj) {
  quiet();
  std::vector<std::string> names;
  hsize_t index = 0;
  if (H5Aiterate2(obj.get(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_attribute, &names) < 0)
    fail(describe(obj), ": cannot list its attributes", hdf5_message());
  return names;
}

bool has_string_list_attribute(const H5Handle& obj, const std::string& name) {
  return has_attribute(obj, name) || has_attribute(obj, name + "0");
}

std::vector<std::string> read_string_list_attribute(const H5Handle& obj, const std::string& name) {
  quiet();
  if (has_attribute(obj, name)) return read_attribute_strings(obj, name);
  if (!has_attribute(obj, name + "0"))
    fail(describe(obj), ": has no attribute '", name, "' (nor its chunks '", name, "0', '", name, "1', ...)");
  // Keras's chunked form: name0, name1, ... until the first missing index.
  std::vector<std::string> all;
  for (size_t chunk = 0;; ++chunk) {
    const std::string chunk_name = name + std::to_string(chunk);
    if (!has_attribute(obj, chunk_name)) break;
    std::vector<std::string> part = read_attribute_strings(obj, chunk_name);
    all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return all;
}

std::string read_string_attribute(const H5Handle& obj, const std::string& name) {
  quiet();
  std::vector<std::string> values = read_attribute_strings(obj, name);
  if (values.size() != 1)
    fail(describe(obj), ": attribute '", name, "' holds ", values.size(), " strings, expected one");
  return std::move(values[0]);
}

namespace {
// Reads a one-element numeric attribute converted to `mem_type`.
void read_scalar_attribute(const H5Handle& obj, const std::string& name, hid_t mem_type, bool allow_float,
                           void* out) {
  quiet();
  const H5Handle attr = open_attribute(obj, name);
  const std::string what = describe(obj) + ": attribute '" + name + "'";
  const H5Handle type = checked(H5Aget_type(attr.get()), H5Kind::Datatype, what + ": no type");
  const H5Handle space = checked(H5Aget_space(attr.get()), H5Kind::Dataspace, what + ": no dataspace");
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && !(allow_float && cls == H5T_FLOAT))
    fail(what, " holds ", class_name(type.get()), ", expected ", allow_float ? "a number" : "an integer");
  if (H5Sget_simple_extent_npoints(space.get()) != 1) fail(what, ": expected a single value");
  if (H5Aread(attr.get(), mem_type, out) < 0) fail(what, ": cannot read it", hdf5_message());
}
}  // namespace

int64_t read_int64_attribute(const H5Handle& obj, const std::string& name) {
  int64_t value = 0;
  read_scalar_attribute(obj, name, H5T_NATIVE_INT64, false, &value);
  return value;
}

double read_double_attribute(const H5Handle& obj, const std::string& name) {
  double value = 0;
  read_scalar_attribute(obj, name, H5T_NATIVE_DOUBLE, true, &value);
  return value;
}

namespace {
// The CRC32C stored beside a dataset's values (see write_float_dataset)
// against the values as read, i.e. end to end: a flipped byte in the data,
// in the dataset's header (its type or its address) or in the stored
// checksum itself all show up here.
void verify_checksum(const H5Handle& dset, const std::vector<float>& values, const std::string& what) {
  const int64_t stored = read_int64_attribute(dset, kChecksumAttribute);
  const uint32_t computed = crc32c_of_floats(values.data(), values.size());
  if (stored != static_cast<int64_t>(computed))
    fail(what, " is damaged: its values do not match the CRC32C checksum stored with them (stored ",
         hex32(static_cast<uint64_t>(stored)), ", computed ", hex32(computed),
         "); the file was corrupted on disk or in a copy: use another copy of it");
}
}  // namespace

FloatArray read_float_dataset(const H5Handle& parent, const std::string& path) {
  quiet();
  const H5I_type_t kind = object_type(parent, path);
  if (kind == H5I_BADID) fail(describe(parent), ": no dataset '", path, "'");
  if (kind != H5I_DATASET) fail(describe(parent), ": '", path, "' is not a dataset");
  const H5Handle dset = checked(H5Dopen2(parent.get(), path.c_str(), H5P_DEFAULT), H5Kind::Dataset,
                                describe(parent) + ": cannot open dataset '" + path + "'");
  const std::string what = "dataset " + describe(dset);
  const H5Handle type = checked(H5Dget_type(dset.get()), H5Kind::Datatype, what + ": no type");
  if (H5Tget_class(type.get()) != H5T_FLOAT)
    fail(what, " holds ", class_name(type.get()), ", expected floating-point weights (float32 or float64)");
  const H5Handle space = checked(H5Dget_space(dset.get()), H5Kind::Dataspace, what + ": no dataspace");
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) fail(what, " has a null dataspace (no values)");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(what, ": cannot read its shape", hdf5_message());
  std::vector<hsize_t> dims(static_cast<size_t>(rank), 0);
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
    fail(what, ": cannot read its shape", hdf5_message());

  FloatArray out;
  uint64_t numel = 1;
  for (hsize_t d : dims) {
    out.shape.push_back(static_cast<int64_t>(d));
    if (d != 0 && numel > kMaxBytes / d) fail(what, ": implausibly large shape (damaged file?)");
    numel *= d;
  }
  if (numel * sizeof(float) > kMaxBytes) fail(what, ": implausibly large (", numel, " values; damaged file?)");
  out.values.resize(static_cast<size_t>(numel));
  // HDF5 converts byte order and float64 -> float32 on the way.
  if (numel > 0 &&
      H5Dread(dset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()) < 0)
    fail(what, ": cannot read its values (truncated or damaged file?)", hdf5_message());
  if (has_attribute(dset, kChecksumAttribute)) {
    verify_checksum(dset, out.values, what);
    out.checksum_verified = true;
  }
  return out;
}

// ---- writing ----------------------------------------------------------------

// The file is built in memory (HDF5's core driver, no backing store) and
// written to the disk by TempFile in one piece. HDF5 itself never writes
// to the disk, so a full disk can never make H5Fclose fail. That matters:
// in HDF5 1.10 a failed H5Fclose frees the file's structure but keeps its
// id registered, and the library's atexit shutdown then closes it again
// (a use after free: the exit-139 crash seen when a checkpoint filled the
// disk). The cost is memory: the file's size twice, while commit() copies
// the image out (a ResNet50 + Adam checkpoint: ~280 MB, twice).
AtomicFile::AtomicFile(const std::string& path) : path_(path), temp_path_(temp_path_for(path)) {
  quiet();
  temp_.emplace(path);  // fails now, before any work, when the directory is not writable
  const H5Handle fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Kind::PropertyList, "H5Pcreate(file access)");
  // STRONG: closing the file also closes any group/dataset handle still
  // open, so commit() really finishes the file before taking its image.
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  if (H5Pset_fapl_core(fapl.get(), kCoreIncrement, /*backing_store=*/0) < 0)
    fail("cannot write '", path, "': cannot set up an in-memory HDF5 file", hdf5_message());
  file_ = checked(H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Kind::File,
                  "cannot write '" + path + "': cannot create an in-memory HDF5 file");
}

// Without commit() the in-memory file is dropped and TempFile removes the
// (still empty) temporary file: nothing reaches the disk.
AtomicFile::~AtomicFile() = default;

void AtomicFile::commit() {
  if (committed_) return;
  if (!file_.valid() || !temp_) fail("cannot write '", path_, "': the file was already closed");
  // Writes HDF5's cached metadata into the in-memory image (no disk I/O).
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0)
    fail("cannot write '", path_, "': cannot finish the in-memory HDF5 file", hdf5_message());
  const ssize_t size = H5Fget_file_image(file_.get(), nullptr, 0);
  if (size <= 0) fail("cannot write '", path_, "': cannot finish the in-memory HDF5 file", hdf5_message());
  std::vector<char> image(static_cast<size_t>(size));
  if (H5Fget_file_image(file_.get(), image.data(), image.size()) != size)
    fail("cannot write '", path_, "': cannot copy the in-memory HDF5 file", hdf5_message());
  // Closing an in-memory file writes nothing; it frees HDF5's copy before ours goes to the disk.
  if (H5Fclose(file_.release()) < 0)
    fail("cannot write '", path_, "': cannot close the in-memory HDF5 file", hdf5_message());
  temp_->commit(image.data(), image.size());
  committed_ = true;
}

H5Handle create_group(const H5Handle& parent, const std::string& path) {
  quiet();
  if (has_link(parent, path)) fail(describe(parent), ": cannot create group '", path, "': it already exists");
  const H5Handle lcpl = intermediate_groups_lcpl();
  return checked(H5Gcreate2(parent.get(), path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Kind::Group,
                 describe(parent) + ": cannot create group '" + path + "'");
}

void write_float_dataset(const H5Handle& parent, const std::string& path, const Shape& shape,
                         const float* values) {
  quiet();
  std::vector<hsize_t> dims;
  for (int64_t d : shape) {
    if (d < 0) fail(describe(parent), ": dataset '", path, "': negative extent in shape ", shape_str(shape));
    dims.push_back(static_cast<hsize_t>(d));
  }
  const int64_t numel = shape_numel(shape);
  if (numel > 0 && values == nullptr) fail(describe(parent), ": dataset '", path, "': no values given");
  const H5Handle space = checked(
      shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
      H5Kind::Dataspace, describe(parent) + ": cannot make a dataspace for '" + path + "'");
  const H5Handle lcpl = intermediate_groups_lcpl();
  const H5Handle dset =
      checked(H5Dcreate2(parent.get(), path.c_str(), H5T_IEEE_F32LE, space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Kind::Dataset, describe(parent) + ": cannot create dataset '" + path + "'");
  if (numel > 0 && H5Dwrite(dset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
    fail(describe(parent), ": cannot write dataset '", path, "'", hdf5_message());
  write_int64_attribute(dset, kChecksumAttribute, crc32c_of_floats(values, static_cast<size_t>(numel)));
}

void write_string_list_attribute(const H5Handle& obj, const std::string& name,
                                 const std::vector<std::string>& values) {
  quiet();
  const hsize_t n = values.size();
  const H5Handle space = checked(H5Screate_simple(1, &n, nullptr), H5Kind::Dataspace, "H5Screate_simple");
  if (values.empty()) {
    // h5py's form for []: a float64 array of shape (0,). Keras reads it as "no weights".
    write_attribute(obj, name, H5T_IEEE_F64LE, space.get(), H5T_NATIVE_DOUBLE, nullptr);
    return;
  }
  size_t width = 1;  // HDF5 string types must be at least one byte wide
  for (const std::string& v : values) width = std::max(width, v.size());
  const H5Handle type = checked(H5Tcopy(H5T_C_S1), H5Kind::Datatype, "H5Tcopy");
  if (H5Tset_size(type.get(), width) < 0 || H5Tset_strpad(type.get(), H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(type.get(), H5T_CSET_ASCII) < 0)
    fail(describe(obj), ": cannot build a string type for '", name, "'", hdf5_message());
  // NULLPAD: each value padded with NULs to the width; the longest has none.
  std::vector<char> buf(values.size() * width, '\0');
  for (size_t i = 0; i < values.size(); ++i) std::memcpy(buf.data() + i * width, values[i].data(), values[i].size());
  write_attribute(obj, name, type.get(), space.get(), type.get(), buf.data());
}

void write_string_attribute(const H5Handle& obj, const std::string& name, const std::string& value) {
  quiet();
  const H5Handle type = checked(H5Tcopy(H5T_C_S1), H5Kind::Datatype, "H5Tcopy");
  if (H5Tset_size(type.get(), H5T_VARIABLE) < 0 || H5Tset_cset(type.get(), H5T_CSET_ASCII) < 0)
    fail(describe(obj), ": cannot build a string type for '", name, "'", hdf5_message());
  const H5Handle space = checked(H5Screate(H5S_SCALAR), H5Kind::Dataspace, "H5Screate");
  const char* ptr = value.c_str();
  write_attribute(obj, name, type.get(), space.get(), type.get(), &ptr);
}

void write_int64_attribute(const H5Handle& obj, const std::string& name, int64_t value) {
  quiet();
  const H5Handle space = checked(H5Screate(H5S_SCALAR), H5Kind::Dataspace, "H5Screate");
  write_attribute(obj, name, H5T_STD_I64LE, space.get(), H5T_NATIVE_INT64, &value);
}

void write_double_attribute(const H5Handle& obj, const std::string& name, double value) {
  quiet();
  const H5Handle space = checked(H5Screate(H5S_SCALAR), H5Kind::Dataspace, "H5Screate");
  write_attribute(obj, name, H5T_IEEE_F64LE, space.get(), H5T_NATIVE_DOUBLE, &value);
}

#else  // !TL_HAVE_HDF5 -------------------------------------------------------

namespace {
[[noreturn]] void no_hdf5(const std::string& what) {
  fail(what, ": this build has no HDF5 support; install libhdf5-dev and rebuild");
}
}  // namespace

void H5Handle::reset() noexcept { id_ = -1; }
bool hdf5_available() { return false; }
std::string hdf5_version() { return "none"; }
std::string describe(const H5Handle&) { return "'<HDF5 object>'"; }

H5Handle open_file_readonly(const std::string& path) { no_hdf5("cannot read '" + path + "'"); }
H5Handle open_group(const H5Handle&, const std::string& path) { no_hdf5("cannot open group '" + path + "'"); }
bool has_attribute(const H5Handle&, const std::string&) { no_hdf5("tl::h5::has_attribute"); }
bool has_link(const H5Handle&, const std::string&) { no_hdf5("tl::h5::has_link"); }
bool is_group(const H5Handle&, const std::string&) { no_hdf5("tl::h5::is_group"); }
bool is_dataset(const H5Handle&, const std::string&) { no_hdf5("tl::h5::is_dataset"); }
std::vector<std::string> list_children(const H5Handle&) { no_hdf5("tl::h5::list_children"); }
bool tracks_creation_order(const H5Handle&) { no_hdf5("tl::h5::tracks_creation_order"); }
std::vector<std::string> list_attributes(const H5Handle&) { no_hdf5("tl::h5::list_attributes"); }
bool has_string_list_attribute(const H5Handle&, const std::string&) { no_hdf5("tl::h5::has_string_list_attribute"); }
std::vector<std::string> read_string_list_attribute(const H5Handle&, const std::string& name) {
  no_hdf5("cannot read attribute '" + name + "'");
}
std::string read_string_attribute(const H5Handle&, const std::string& name) {
  no_hdf5("cannot read attribute '" + name + "'");
}
int64_t read_int64_attribute(const H5Handle&, const std::string& name) { no_hdf5("cannot read attribute '" + name + "'"); }
double read_double_attribute(const H5Handle&, const std::string& name) { no_hdf5("cannot read attribute '" + name + "'"); }
FloatArray read_float_dataset(const H5Handle&, const std::string& path) { no_hdf5("cannot read dataset '" + path + "'"); }

AtomicFile::AtomicFile(const std::string& path) : path_(path), temp_path_(temp_path_for(path)) {
  no_hdf5("cannot write '" + path + "'");
}
AtomicFile::~AtomicFile() = default;
void AtomicFile::commit() { no_hdf5("cannot write '" + path_ + "'"); }

H5Handle create_group(const H5Handle&, const std::string& path) { no_hdf5("cannot create group '" + path + "'"); }
void write_float_dataset(const H5Handle&, const std::string& path, const Shape&, const float*) {
  no_hdf5("cannot write dataset '" + path + "'");
}
void write_string_list_attribute(const H5Handle&, const std::string& name, const std::vector<std::string>&) {
  no_hdf5("cannot write attribute '" + name + "'");
}
void write_string_attribute(const H5Handle&, const std::string& name, const std::string&) {
  no_hdf5("cannot write attribute '" + name + "'");
}
void write_int64_attribute(const H5Handle&, const std::string& name, int64_t) {
  no_hdf5("cannot write attribute '" + name + "'");
}
void write_double_attribute(const H5Handle&, const std::string& name, double) {
  no_hdf5("cannot write attribute '" + name + "'");
}

#endif  // TL_HAVE_HDF5

}  // namespace tl::h5
