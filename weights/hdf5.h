// A small RAII layer over the HDF5 C API: handles that close themselves, and
// the handful of reads and writes the Keras weight files and the checkpoints
// need (string-list attributes in every form h5py writes, float datasets,
// scalar attributes, atomic file creation).
//
// The header does not include <hdf5.h>: HDF5 is optional at configure time,
// so every function here exists in every build. Without HDF5 (TL_HAVE_HDF5
// undefined) each one throws tl::Error saying how to get HDF5 support.
// hid_t is int64_t since HDF5 1.10; hdf5.cpp checks that H5Id matches it.
//
// Errors name the file (and the object inside it) and say what was expected.
// Paths given to these helpers are relative to the handle passed in and may
// have several components ("conv1/conv1/kernel:0"); ':' is legal in names.
//
// Not thread-safe: Debian's libhdf5 is built without its global lock, so
// call these from one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/shape.h"
#include "weights/atomic_write.h"

namespace tl::h5 {

using H5Id = int64_t;  // == hid_t

// What an id refers to; selects the matching H5?close function.
enum class H5Kind { File, Group, Dataset, Attribute, Datatype, Dataspace, PropertyList };

// Owns one HDF5 id. Copies are deleted (two owners would close twice);
// moves transfer ownership.
class H5Handle {
 public:
  H5Handle() = default;
  H5Handle(H5Id id, H5Kind kind) noexcept : id_(id), kind_(kind) {}
  ~H5Handle() { reset(); }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle(H5Handle&& other) noexcept : id_(other.id_), kind_(other.kind_) { other.id_ = -1; }
  H5Handle& operator=(H5Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      kind_ = other.kind_;
      other.id_ = -1;
    }
    return *this;
  }

  H5Id get() const { return id_; }
  H5Kind kind() const { return kind_; }
  bool valid() const { return id_ >= 0; }
  explicit operator bool() const { return valid(); }
  void reset() noexcept;  // closes the id (if any); never throws
  H5Id release() noexcept {  // gives up ownership without closing
    const H5Id id = id_;
    id_ = -1;
    return id;
  }

 private:
  H5Id id_ = -1;
  H5Kind kind_ = H5Kind::File;
};

// True when this build can read and write HDF5 files.
bool hdf5_available();
// "1.10.8", or "none" in a build without HDF5.
std::string hdf5_version();

// "'file.h5'" or "'file.h5' at '/group/name'": how error messages name an object.
std::string describe(const H5Handle& obj);

// An HDF5 error description made fit for a one-line message: the I/O
// errors' embedded ctime() newline and buffer details dropped ("file write
// failed: File too large (errno 27)"), any other newline turned into a space.
std::string one_line_error(std::string hdf5_description);

// ---- reading --------------------------------------------------------------

// Opens an existing file read-only. Throws tl::Error naming the path when it
// does not exist, is empty, is not HDF5 or is truncated/damaged.
H5Handle open_file_readonly(const std::string& path);
H5Handle open_group(const H5Handle& parent, const std::string& path);

bool has_attribute(const H5Handle& obj, const std::string& name);
bool has_link(const H5Handle& parent, const std::string& path);  // every component exists
bool is_group(const H5Handle& parent, const std::string& path);
bool is_dataset(const H5Handle& parent, const std::string& path);

// Names of the links in a group: in creation order when the group tracks it
// (h5py track_order=True), otherwise in HDF5's name order (byte order).
std::vector<std::string> list_children(const H5Handle& group);
bool tracks_creation_order(const H5Handle& group);  // list_children is in creation order
std::vector<std::string> list_attributes(const H5Handle& obj);

// A list of strings stored as attribute `name`, or, when that is absent, as
// the chunks name0, name1, ... (Keras splits lists over 64 KiB), concatenated.
// Accepts variable- and fixed-length strings (NULLPAD / NULLTERM / SPACEPAD),
// ASCII or UTF-8, scalar or 1-D; an attribute with zero elements of any type
// (h5py writes [] as float64 (0,)) is an empty list.
bool has_string_list_attribute(const H5Handle& obj, const std::string& name);
std::vector<std::string> read_string_list_attribute(const H5Handle& obj, const std::string& name);
std::string read_string_attribute(const H5Handle& obj, const std::string& name);  // exactly one string
int64_t read_int64_attribute(const H5Handle& obj, const std::string& name);
double read_double_attribute(const H5Handle& obj, const std::string& name);

// The attribute holding a dataset's CRC32C (weights/crc32c.h): an int64
// whose low 32 bits are the checksum of the values as float32 little-endian
// bytes. write_float_dataset stores it; read_float_dataset checks it.
inline constexpr const char* kChecksumAttribute = "crc32c";

// A floating-point dataset (any width or byte order; HDF5 converts) read as
// float32, row-major. A scalar dataset has shape (). Throws when the dataset
// is missing or is not floating point (e.g. a string), and when it carries
// a checksum that its values do not match (naming the file and the dataset).
struct FloatArray {
  Shape shape;
  std::vector<float> values;  // shape_numel(shape) values
  bool checksum_verified = false;  // false: the dataset has no checksum (e.g. a Keras file)
};
FloatArray read_float_dataset(const H5Handle& parent, const std::string& path);

// ---- writing --------------------------------------------------------------

// A new HDF5 file for `path`, built in memory; commit() writes it to
// `path + ".tmp.<pid>"`, fsyncs it and renames it over `path` (weights/
// atomic_write.h). Destroyed without commit() (an exception on the way),
// it removes the temp file, so a failed or interrupted write never leaves a
// half-written file under the final name and never damages the old one.
// Every failure, a full disk included, is one tl::Error naming the file
// (never a crash: see hdf5.cpp for why HDF5 never writes to the disk here).
// Holds the whole file in memory until commit(), and briefly twice.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const H5Handle& root() const { return file_; }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  void commit();  // write, fsync, rename; throws tl::Error on failure

 private:
  std::string path_, temp_path_;
  std::optional<TempFile> temp_;  // the temporary file on disk, created first
  H5Handle file_;                 // the in-memory HDF5 file
  bool committed_ = false;
};

// Creates a group; intermediate groups in `path` are created as needed.
H5Handle create_group(const H5Handle& parent, const std::string& path);

// Writes a contiguous little-endian float32 dataset (intermediate groups
// created as needed, like h5py) and its CRC32C as the attribute
// kChecksumAttribute. `values` holds shape_numel(shape) floats.
void write_float_dataset(const H5Handle& parent, const std::string& path, const Shape& shape,
                         const float* values);

// A 1-D fixed-length, NULLPAD, ASCII string attribute whose width is the
// longest value: what h5py 2 made of a numpy 'S' array, and the form the
// published Keras files use. An empty list becomes a float64 array of shape
// (0,), as h5py writes `[]`. Replaces an existing attribute of that name.
void write_string_list_attribute(const H5Handle& obj, const std::string& name,
                                 const std::vector<std::string>& values);
// Scalar variable-length ASCII string (h5py's form for a `bytes` value).
void write_string_attribute(const H5Handle& obj, const std::string& name, const std::string& value);
void write_int64_attribute(const H5Handle& obj, const std::string& name, int64_t value);
void write_double_attribute(const H5Handle& obj, const std::string& name, double value);

}  // namespace tl::h5
