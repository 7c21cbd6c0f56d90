#include "qkv/pictures/colormap.h"

#include <algorithm>
#include <cmath>

#include "qkv/core/error.h"

namespace qkv::pictures {

namespace {

constexpr uint32_t kViridis[10] = {0x440154, 0x482878, 0x3e4a89, 0x31688e, 0x26828e,
                                   0x1f9e89, 0x35b779, 0x6ece58, 0xb5de2b, 0xfde725};
constexpr uint32_t kMagma[10] = {0x000004, 0x180f3d, 0x440f76, 0x721f81, 0x9e2f7f,
                                 0xcd4071, 0xf1605d, 0xfd9668, 0xfeca8d, 0xfcfdbf};
constexpr uint32_t kTableau[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                   0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

Color hex(uint32_t v) {
  return {static_cast<uint8_t>(v >> 16), static_cast<uint8_t>((v >> 8) & 0xff), static_cast<uint8_t>(v & 0xff)};
}

Color interpolate(const uint32_t* stops, int n, double t) {
  double pos = t * (n - 1);
  int i = std::min(static_cast<int>(pos), n - 2);
  double f = pos - i;
  Color a = hex(stops[i]), b = hex(stops[i + 1]);
  auto mix = [f](uint8_t x, uint8_t y) {
    return static_cast<uint8_t>(std::lround(x + (static_cast<double>(y) - x) * f));
  };
  return {mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b)};
}

}  // namespace

Color colormap_color(Colormap map, double t) {
  if (std::isnan(t)) return kGray;
  t = std::clamp(t, 0.0, 1.0);
  switch (map) {
    case Colormap::viridis: return interpolate(kViridis, 10, t);
    case Colormap::magma: return interpolate(kMagma, 10, t);
    case Colormap::gray: {
      auto v = static_cast<uint8_t>(std::lround(255.0 * t));
      return {v, v, v};
    }
  }
  return kGray;
}

Colormap parse_colormap(const std::string& name) {
  if (name == "viridis") return Colormap::viridis;
  if (name == "magma") return Colormap::magma;
  if (name == "gray" || name == "grey") return Colormap::gray;
  fail("colormap: unknown name '", name, "'; expected one of viridis, magma, gray");
}

std::string colormap_name(Colormap map) {
  switch (map) {
    case Colormap::viridis: return "viridis";
    case Colormap::magma: return "magma";
    case Colormap::gray: return "gray";
  }
  return "?";
}

double luminance(Color c) {
  auto lin = [](uint8_t v) {
    double s = v / 255.0;
    return s <= 0.04045 ? s / 12.92 : std::pow((s + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
}

Color series_color(int index) {
  int i = ((index % 10) + 10) % 10;
  return hex(kTableau[i]);
}

}  // namespace qkv::pictures
