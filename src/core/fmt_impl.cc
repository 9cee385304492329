// fmt's compiled part, built here once instead of in every translation unit. Osprey uses fmt in its
// non-header-only mode (FMT_HEADER_ONLY unset): headers then only declare fmt's non-template
// functions and this file defines them. Debian's shared libfmt would do the same, but binaries
// built here must also run on machines that have fmt's headers and no libfmt.so (the GPU machine).
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
// Locale-dependent helpers that format-inl.h defines as templates: instantiate the ones that
// format strings with `{:L}` and fmt::format on char need.
template auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl<char>(locale_ref) -> char;
template auto thousands_sep_impl<wchar_t>(locale_ref) -> thousands_sep_result<wchar_t>;
template auto decimal_point_impl<wchar_t>(locale_ref) -> wchar_t;
template locale_ref::locale_ref(const std::locale& loc);
template auto locale_ref::get<std::locale>() const -> std::locale;
}  // namespace detail
FMT_END_NAMESPACE
