// Colours and perceptual colormaps for heatmaps and plots.
//
// viridis and magma are perceptually uniform (lightness grows monotonically, readable in gray
// and by colour-blind readers); gray maps 0 → black, 1 → white ("white = attended").
// Each map interpolates between ten published stops of the original map, in sRGB.
#pragma once

#include <cstdint>
#include <string>

namespace qkv::pictures {

struct Color {
  uint8_t r = 0, g = 0, b = 0;
};

inline constexpr Color kBlack{0, 0, 0};
inline constexpr Color kWhite{255, 255, 255};
inline constexpr Color kDarkGray{60, 60, 60};
inline constexpr Color kGray{128, 128, 128};
inline constexpr Color kLightGray{220, 220, 220};

enum class Colormap { viridis, magma, gray };

// t in [0, 1] (clamped; NaN maps to a neutral gray).
Color colormap_color(Colormap map, double t);
// "viridis", "magma", "gray"; throws qkv::Error naming the choices otherwise.
Colormap parse_colormap(const std::string& name);
std::string colormap_name(Colormap map);

// Relative luminance in [0, 1] (to pick black or white text on a coloured cell).
double luminance(Color c);

// A qualitative palette for plot series (Tableau 10), cycled by index.
Color series_color(int index);

}  // namespace qkv::pictures
